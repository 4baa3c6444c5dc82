//! Crash consistency: a writer process is killed (SIGKILL) at a random
//! moment, again and again, while it writes large and small values, groups
//! writes in transactions and culls under a small size limit. After each
//! kill the directory is repaired with check(fix) and must then be clean,
//! with every surviving value whole.

use std::process::Command;
use std::time::Duration;

use diskcache_shard::SetOptions;

use crate::record::{self, Rng};
use crate::target::Target;
use crate::{Outcome, Res};

const KEYS: u64 = 200;
/// Small, so that the writer culls all the time.
const SIZE_LIMIT: u64 = 2 << 20;

/// The writer: writes until killed (bounded, in case nobody kills it).
pub fn worker(kind: &str, dir: &str, seed: u64) -> Res<()> {
    let target = Target::open(kind, dir, SIZE_LIMIT)?;
    let mut rng = Rng::new(seed);
    for seq in 0..10_000_000u64 {
        let key = format!("k{}", rng.below(KEYS));
        let len = if rng.below(3) == 0 {
            40_000 + rng.below(200_000)
        } else {
            16 + rng.below(2000)
        };
        match rng.below(10) {
            0 => {
                target.delete(&key)?;
            }
            1 => {
                target.incr("counter")?;
            }
            2 => {
                if let Target::Shard(c) = &target {
                    c.transact(|| {
                        for i in 0..3 {
                            let k = format!("k{}", (seq + i) % KEYS);
                            c.set(&k, &record::make(&k, 0, seq, len as usize))?;
                        }
                        Ok::<_, diskcache_shard::Error>(())
                    })?;
                }
            }
            _ => {
                target.set(
                    &key,
                    &record::make(&key, 0, seq, len as usize),
                    &SetOptions::new(),
                )?;
            }
        }
    }
    Ok(())
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
    for kill in 0..kills {
        let mut child = Command::new(&exe)
            .args(["worker-crash", kind, &path, &kill.to_string()])
            .spawn()
            .map_err(|e| format!("starting writer {kill} ({}): {e}", exe.display()))?;
        std::thread::sleep(Duration::from_millis(20 + rng.below(230)));
        child
            .kill()
            .map_err(|e| format!("killing writer {kill}: {e}"))?;
        child
            .wait()
            .map_err(|e| format!("reaping writer {kill}: {e}"))?;
        let target = Target::open(kind, &path, SIZE_LIMIT)?;
        target.check(true)?;
        let left = target.check(false)?;
        if !left.is_empty() {
            violations.push(format!("after kill {kill}, check(fix) left {left:?}"));
        }
        for k in 0..KEYS {
            let key = format!("k{k}");
            match target.get(&key) {
                Ok(Some(v)) => {
                    if let Err(e) = record::check(&key, &v) {
                        violations.push(format!("after kill {kill}: {e}"));
                    }
                }
                Ok(None) => {}
                Err(e) => violations.push(format!("after kill {kill}: {key}: {e}")),
            }
        }
        survived += 1;
    }
    Ok(Outcome {
        ops: 0,
        procs: 1,
        kills: survived,
        faults: 0,
        violations,
        note: String::new(),
    })
}
