//! Read memos across processes: workers read a few counters over and over
//! (so that each keeps them in its read memo), increment them, and set and
//! read records, all writes the commit feed records, so that the memos
//! keep catching up from it rather than starting over. Each read of a
//! counter first reads it through a second handle without a memo: the
//! memo's answer, read after it, may not be lower (a memo that missed
//! another process's increment would be). Nor may a worker read a counter
//! lower than one it saw before, or a torn record; afterwards the counters
//! must be exact.

use std::collections::HashMap;

use diskcache_shard::SetOptions;

use crate::record::{self, Rng};
use crate::target::Target;
use crate::{Outcome, Res, spawn_workers};

const COUNTERS: u64 = 4;
const KEYS: u64 = 50;
const SIZE_LIMIT: u64 = 1 << 30;

/// One worker: `ops` operations; prints its increments and any violation.
pub fn worker(kind: &str, dir: &str, id: u32, ops: u64) -> Res<()> {
    let target = Target::open(kind, dir, SIZE_LIMIT)?;
    let fresh = Target::open_memo(kind, dir, SIZE_LIMIT, false)?;
    let mut rng = Rng::new(u64::from(id) + 101);
    let mut added: HashMap<String, u64> = HashMap::new();
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut out = String::new();
    for seq in 0..ops {
        let name = format!("c{}", rng.below(COUNTERS));
        let key = format!("k{}", rng.below(KEYS));
        match rng.below(100) {
            0..60 => {
                let truth = fresh.counter(&name)?;
                let got = target.counter(&name)?;
                if got < truth {
                    out.push_str(&format!(
                        "bad counter {name} read {got} after {truth} (stale)\n"
                    ));
                }
                let before = seen.entry(name.clone()).or_default();
                if got < *before {
                    out.push_str(&format!("bad counter {name} read {got} after {before}\n"));
                }
                *before = got.max(*before);
            }
            60..80 => {
                if let Some(now) = target.incr(&name)? {
                    let before = seen.entry(name.clone()).or_default();
                    if now <= *before {
                        out.push_str(&format!("bad counter {name} became {now} after {before}\n"));
                    }
                    *before = now.max(*before);
                    *added.entry(name).or_default() += 1;
                }
            }
            80..88 => {
                let len = 16 + rng.below(200) as usize;
                let value = record::make(&key, id, seq, len);
                target.set(&key, &value, &SetOptions::new())?;
            }
            _ => {
                if let Some(Err(e)) = target.get(&key)?.map(|v| record::check(&key, &v)) {
                    out.push_str(&format!("bad {e}\n"));
                }
            }
        }
    }
    for (name, n) in added {
        out.push_str(&format!("incr {name} {n}\n"));
    }
    print!("{out}");
    Ok(())
}

/// Runs `procs` workers of `ops` operations on a fresh `kind` directory.
pub fn run(kind: &str, procs: u32, ops: u64) -> Res<Outcome> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    drop(Target::open(kind, &path, SIZE_LIMIT)?);
    let outputs = spawn_workers(procs, |id| {
        vec![
            "worker-memo".into(),
            kind.into(),
            path.clone(),
            id.to_string(),
            ops.to_string(),
        ]
    })?;
    let mut violations = Vec::new();
    let mut added: HashMap<String, u64> = HashMap::new();
    for line in outputs.iter().flat_map(|text| text.lines()) {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["incr", name, n] => *added.entry((*name).into()).or_default() += n.parse::<u64>()?,
            ["bad", ..] => violations.push(line.to_string()),
            _ => violations.push(format!("unexpected worker output: {line}")),
        }
    }
    let target = Target::open(kind, &path, SIZE_LIMIT)?;
    for (name, expected) in &added {
        let got = target.counter(name)?;
        if u64::try_from(got).ok() != Some(*expected) {
            violations.push(format!("counter {name} is {got}, workers added {expected}"));
        }
    }
    Ok(Outcome {
        ops: ops * u64::from(procs),
        procs,
        kills: 0,
        faults: 0,
        violations,
        note: format!("{} increments", added.values().sum::<u64>()),
    })
}
