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

use crate::counters::{self, Counters};
use crate::record::{self, Rng};
use crate::target::Target;
use crate::{Outcome, Res, spawn_kind};

const COUNTERS: u64 = 4;
const KEYS: u64 = 50;
const SIZE_LIMIT: u64 = 1 << 30;

/// One worker: `ops` operations; prints its increments and any violation.
pub fn worker(kind: &str, dir: &str, id: u32, ops: u64) -> Res<()> {
    let target = Target::open(kind, dir, SIZE_LIMIT)?;
    let fresh = Target::open_memo(kind, dir, SIZE_LIMIT, false)?;
    let mut rng = Rng::new(u64::from(id) + 101);
    let mut counters = Counters::default();
    let mut bad = Vec::new();
    for seq in 0..ops {
        let name = format!("c{}", rng.below(COUNTERS));
        let key = format!("k{}", rng.below(KEYS));
        match rng.below(100) {
            0..60 => {
                let truth = fresh.counter(&name)?;
                let got = target.counter(&name)?;
                if got < truth {
                    bad.push(format!("counter {name} read {got} after {truth} (stale)"));
                }
                bad.extend(counters.read(&name, got));
            }
            60..80 => {
                let now = target.incr(&name)?;
                bad.extend(now.and_then(|n| counters.incremented(&name, n)));
            }
            80..88 => {
                let len = 16 + rng.below(200) as usize;
                let value = record::make(&key, id, seq, len);
                target.set(&key, &value, &SetOptions::new())?;
            }
            _ => {
                if let Some(Err(e)) = target.get(&key)?.map(|v| record::check(&key, &v)) {
                    bad.push(e);
                }
            }
        }
    }
    let lines: String = bad.iter().map(|e| format!("bad {e}\n")).collect();
    print!("{lines}{}", counters.report());
    Ok(())
}

/// Runs `procs` workers of `ops` operations on a fresh `kind` directory.
pub fn run(kind: &str, procs: u32, ops: u64) -> Res<Outcome> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    drop(Target::open(kind, &path, SIZE_LIMIT)?);
    let outputs = spawn_kind("worker-memo", kind, &path, procs, ops)?;
    let mut violations = Vec::new();
    let mut added: HashMap<String, u64> = HashMap::new();
    for line in outputs.iter().flat_map(|text| text.lines()) {
        if !counters::tally(line, &mut added)? {
            violations.push(match line.strip_prefix("bad ") {
                Some(_) => line.to_string(),
                None => format!("unexpected worker output: {line}"),
            });
        }
    }
    let target = Target::open(kind, &path, SIZE_LIMIT)?;
    violations.extend(counters::check(&target, &added)?);
    Ok(Outcome {
        ops: ops * u64::from(procs),
        procs,
        kills: 0,
        faults: 0,
        violations,
        note: format!("{} increments", added.values().sum::<u64>()),
    })
}
