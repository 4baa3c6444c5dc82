//! Crash consistency: a writer process is killed (SIGKILL) at a random
//! moment, again and again, while it writes large and small values, groups
//! writes in transactions and culls under a small size limit. After each
//! kill the directory is repaired with check(fix) and must then be clean,
//! with every surviving value whole, and no write the writer saw succeed
//! lost: a present value is never older than the last set or delete of its
//! key that the writer acknowledged (on its standard output, after the call
//! returned). A key may be missing (culled) and may hold a newer value (a
//! write that committed, but was killed before its acknowledgement).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use diskcache_shard::SetOptions;

use crate::record::{self, Rng};
use crate::target::Target;
use crate::{Outcome, Res};

const KEYS: u64 = 200;
/// Small, so that the writer culls all the time.
const SIZE_LIMIT: u64 = 2 << 20;

/// The writer: writes until killed (bounded, in case nobody kills it). It
/// is the `writer`-th, which its values carry, so that each write is
/// ordered by (writer, sequence number) across writers. Each set, delete
/// and transaction that succeeded is acknowledged as a line
/// `set|del|txn SEQ KEY` once the call has returned (a transaction sets
/// KEY and the two keys after it).
pub fn worker(kind: &str, dir: &str, writer: u32) -> Res<()> {
    let target = Target::open(kind, dir, SIZE_LIMIT)?;
    let mut rng = Rng::new(u64::from(writer));
    let mut acks = std::io::stdout().lock();
    for seq in 0..10_000_000u64 {
        let k = rng.below(KEYS);
        let key = format!("k{k}");
        let len = if rng.below(3) == 0 {
            40_000 + rng.below(200_000)
        } else {
            16 + rng.below(2000)
        };
        let value = |key: &str| record::make(key, writer, seq, len as usize);
        let acked = match rng.below(10) {
            0 => target.delete(&key)?.then_some("del"),
            1 => {
                target.incr("counter")?;
                None
            }
            // On the fanout over every shard: they commit one by one, so a
            // kill may land between two commits.
            2 => target
                .transact(|| {
                    let mut stored = true;
                    for i in 0..3 {
                        let key = format!("k{}", (k + i) % KEYS);
                        stored &= target.set(&key, &value(&key), &SetOptions::new())?;
                    }
                    Ok(stored)
                })?
                .then_some("txn"),
            _ => target
                .set(&key, &value(&key), &SetOptions::new())?
                .then_some("set"),
        };
        if let Some(op) = acked {
            writeln!(acks, "{op} {seq} {k}")?;
            acks.flush()?;
        }
    }
    Ok(())
}

/// The last acknowledged write of each key: (writer, sequence number, set
/// or delete).
type Acked = HashMap<u64, (u32, u64, bool)>;

/// Records one acknowledgement line of `writer`; false if it is garbled.
fn record_ack(acked: &mut Acked, writer: u32, line: &str) -> bool {
    let mut parts = line.split(' ');
    let (Some(op), Some(seq), Some(k)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(seq), Ok(k)) = (seq.parse::<u64>(), k.parse::<u64>()) else {
        return false;
    };
    match op {
        "set" => {
            acked.insert(k, (writer, seq, true));
        }
        "del" => {
            acked.insert(k, (writer, seq, false));
        }
        "txn" => {
            for i in 0..3 {
                acked.insert((k + i) % KEYS, (writer, seq, true));
            }
        }
        _ => return false,
    }
    true
}

/// What is wrong with `found` (writer, sequence number of the value
/// present) given the last acknowledged write of its key.
fn lost_write(found: (u32, u64), last: (u32, u64, bool)) -> Option<String> {
    let (writer, seq, set) = last;
    let stale = if set {
        found < (writer, seq)
    } else {
        found <= (writer, seq)
    };
    let what = if set { "set" } else { "delete" };
    stale.then(|| {
        format!("holds write {found:?}, older than the acknowledged {what} ({writer}, {seq})")
    })
}

/// Kills `kills` writers at random moments; verifies after each.
pub fn run(kind: &str, kills: u32) -> Res<Outcome> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    drop(Target::open(kind, &path, SIZE_LIMIT)?);
    let exe = std::env::current_exe()?;
    let mut rng = Rng::new(7);
    let mut violations = Vec::new();
    let mut survived = 0;
    let mut acked = Acked::new();
    let mut ops = 0;
    for kill in 0..kills {
        let mut child = Command::new(&exe)
            .args(["worker-crash", kind, &path, &kill.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting writer {kill} ({}): {e}", exe.display()))?;
        let out = child.stdout.take().ok_or("no stdout from the writer")?;
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(20 + rng.below(230)));
        child
            .kill()
            .map_err(|e| format!("killing writer {kill}: {e}"))?;
        child
            .wait()
            .map_err(|e| format!("reaping writer {kill}: {e}"))?;
        let lines = reader
            .join()
            .map_err(|_| format!("reading writer {kill}'s acknowledgements"))?;
        // The last line may have been cut by the kill.
        let whole = lines.len().saturating_sub(1);
        for line in &lines[..whole] {
            if !record_ack(&mut acked, kill, line) {
                violations.push(format!("writer {kill} acknowledged {line:?}"));
            }
        }
        if let Some(last) = lines.last() {
            record_ack(&mut acked, kill, last);
        }
        ops += lines.len() as u64;
        let target = Target::open(kind, &path, SIZE_LIMIT)?;
        target.check(true)?;
        let left = target.check(false)?;
        if !left.is_empty() {
            violations.push(format!("after kill {kill}, check(fix) left {left:?}"));
        }
        for k in 0..KEYS {
            let key = format!("k{k}");
            match target.get(&key) {
                Ok(Some(v)) => match record::check(&key, &v) {
                    Ok(found) => {
                        let lost = acked.get(&k).and_then(|&last| lost_write(found, last));
                        if let Some(lost) = lost {
                            violations.push(format!("after kill {kill}: {key} {lost}"));
                        }
                    }
                    Err(e) => violations.push(format!("after kill {kill}: {e}")),
                },
                Ok(None) => {}
                Err(e) => violations.push(format!("after kill {kill}: {key}: {e}")),
            }
        }
        survived += 1;
    }
    Ok(Outcome {
        ops,
        procs: 1,
        kills: survived,
        faults: 0,
        violations,
        note: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_older_than_the_acknowledged_write_is_a_loss() {
        let mut acked = Acked::new();
        assert!(record_ack(&mut acked, 1, "set 40 7"));
        assert!(record_ack(&mut acked, 2, "del 3 8"));
        assert!(record_ack(&mut acked, 2, "txn 5 199"));
        assert!(!record_ack(&mut acked, 2, "set 5"));
        assert!(!record_ack(&mut acked, 2, "put 5 1"));
        let last = |k: u64| acked.get(&k).copied().ok_or(k);
        // The set itself, or a newer write, is fine; an older one is lost.
        assert_eq!(last(7).map(|l| lost_write((1, 40), l)), Ok(None));
        assert_eq!(last(7).map(|l| lost_write((2, 0), l)), Ok(None));
        assert!(last(7).is_ok_and(|l| lost_write((1, 39), l).is_some()));
        assert!(last(7).is_ok_and(|l| lost_write((0, 90), l).is_some()));
        // After a delete, a write from before it is lost data come back.
        assert!(last(8).is_ok_and(|l| lost_write((1, 99), l).is_some()));
        assert_eq!(last(8).map(|l| lost_write((2, 4), l)), Ok(None));
        // A transaction acknowledges its three keys, wrapping around.
        assert_eq!(
            (last(199), last(0), last(1)),
            (Ok((2, 5, true)), Ok((2, 5, true)), Ok((2, 5, true)))
        );
    }
}
