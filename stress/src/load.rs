//! Multi-process load: worker processes run a random mix of every
//! operation on one directory; afterwards every surviving value must be
//! whole, counters exact, queue items pulled exactly once, check() clean.
//! Meanwhile no worker may read a counter lower than one it saw before
//! (its own increments included): a read memo that missed another
//! process's commit would.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diskcache_shard::SetOptions;

use crate::counters::{self, Counters};
use crate::record::{self, Rng};
use crate::target::Target;
use crate::{Outcome, Res, logs, spawn_kind};

/// Keys the workers share.
pub const KEYS: u64 = 300;
const COUNTERS: u64 = 8;
/// Large enough that nothing is evicted by size in this scenario.
pub const SIZE_LIMIT: u64 = 1 << 30;

/// One worker: `ops` random operations; prints what it incremented,
/// pushed and pulled, and any value that failed its check.
pub fn worker(kind: &str, dir: &str, id: u32, ops: u64) -> Res<()> {
    let target = Target::open(kind, dir, SIZE_LIMIT)?;
    let mut rng = Rng::new(u64::from(id) + 1);
    let mut counters = Counters::default();
    let mut out = String::new();
    let bad = |msg: String, out: &mut String| out.push_str(&format!("bad {msg}\n"));
    for seq in 0..ops {
        let key = format!("k{}", rng.below(KEYS));
        match rng.below(1000) {
            0..350 => {
                let len = if rng.below(10) == 0 {
                    40_000 + rng.below(80_000)
                } else {
                    16 + rng.below(500)
                };
                let mut opts = SetOptions::new();
                if rng.below(10) == 0 {
                    opts = opts.expire(Duration::from_millis(50 + rng.below(450)));
                }
                if rng.below(5) == 0 {
                    opts = opts.tag(format!("t{}", rng.below(4)));
                }
                target.set(&key, &record::make(&key, id, seq, len as usize), &opts)?;
            }
            350..600 => {
                if let Some(Err(e)) = target.get(&key)?.map(|v| record::check(&key, &v)) {
                    bad(e, &mut out);
                }
            }
            600..650 => {
                let name = format!("c{}", rng.below(COUNTERS));
                if let Some(e) = counters.read(&name, target.counter(&name)?) {
                    bad(e, &mut out);
                }
            }
            650..700 => {
                target.add(&key, &record::make(&key, id, seq, 64))?;
            }
            700..780 => {
                let name = format!("c{}", rng.below(COUNTERS));
                let now = target.incr(&name)?;
                if let Some(e) = now.and_then(|n| counters.incremented(&name, n)) {
                    bad(e, &mut out);
                }
            }
            780..830 => {
                if let Some(Err(e)) = target.pop(&key)?.map(|v| record::check(&key, &v)) {
                    bad(e, &mut out);
                }
            }
            830..880 => {
                target.delete(&key)?;
            }
            880..930 => {
                let item = format!("w{id}:{seq}");
                if target.push(&item)? {
                    out.push_str(&format!("push {item}\n"));
                }
            }
            930..980 => {
                if let Some(item) = target.pull()? {
                    out.push_str(&format!("pull {item}\n"));
                }
            }
            980..995 => {
                target.touch(&key, Duration::from_millis(200 + rng.below(800)))?;
            }
            995..998 => {
                target.evict(&format!("t{}", rng.below(4)))?;
            }
            _ => {
                target.cull()?;
            }
        }
    }
    out.push_str(&counters.report());
    print!("{out}");
    Ok(())
}

/// Runs `procs` workers of `ops` operations on a fresh `kind` directory and
/// checks the invariants.
pub fn run(kind: &str, procs: u32, ops: u64) -> Res<Outcome> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    drop(Target::open(kind, &path, SIZE_LIMIT)?);
    let (outputs, largest_log) = logs::watching(dir.path(), || {
        spawn_kind("worker-load", kind, &path, procs, ops)
    })?;
    let mut violations: Vec<String> = logs::check(largest_log).into_iter().collect();
    let mut counters: HashMap<String, u64> = HashMap::new();
    let mut pushed = HashSet::new();
    let mut pulled = Vec::new();
    for text in &outputs {
        for line in text.lines() {
            if counters::tally(line, &mut counters)? {
                continue;
            }
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("push"), Some(item), None) => {
                    pushed.insert(item.to_string());
                }
                (Some("pull"), Some(item), None) => pulled.push(item.to_string()),
                (Some("bad"), _, _) => violations.push(line.to_string()),
                _ => violations.push(format!("unexpected worker output: {line}")),
            }
        }
    }
    let target = Target::open(kind, &path, SIZE_LIMIT)?;
    for k in 0..KEYS {
        let key = format!("k{k}");
        match target.get(&key) {
            Ok(Some(v)) => {
                if let Err(e) = record::check(&key, &v) {
                    violations.push(e);
                }
            }
            Ok(None) => {}
            Err(e) => violations.push(format!("{key}: {e}")),
        }
    }
    violations.extend(counters::check(&target, &counters)?);
    while let Some(item) = target.pull()? {
        pulled.push(item);
    }
    let mut seen = HashSet::new();
    for item in &pulled {
        if !seen.insert(item.clone()) {
            violations.push(format!("queue item {item} pulled twice"));
        }
        if !pushed.contains(item) {
            violations.push(format!("queue item {item} pulled but never pushed"));
        }
    }
    if seen.len() != pushed.len() {
        violations.push(format!(
            "{} items pushed, {} pulled",
            pushed.len(),
            seen.len()
        ));
    }
    violations.extend(target.check(false)?);
    Ok(Outcome {
        ops: ops * u64::from(procs),
        procs,
        kills: 0,
        faults: 0,
        violations,
        note: format!(
            "{} counters, {} queue items, largest log {} MiB",
            counters.len(),
            pushed.len(),
            largest_log >> 20
        ),
    })
}
