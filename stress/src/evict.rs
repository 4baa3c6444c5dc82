//! Eviction under load: writers stream far more than the size limit into
//! one cache while the volume is sampled; it must stay within a bound of
//! the limit throughout.

use std::process::{Command, Stdio};
use std::time::Duration;

use diskcache_shard::SetOptions;

use crate::record::{self, Rng};
use crate::target::Target;
use crate::{Outcome, Res, logs};

const LIMIT: u64 = 4 << 20;

/// A writer: stores values of 8–64 KiB until `bytes` are written.
pub fn worker(dir: &str, id: u32, bytes: u64) -> Res<()> {
    let target = Target::open("shard", dir, LIMIT)?;
    let mut rng = Rng::new(u64::from(id) + 100);
    let mut written = 0;
    let mut seq = 0;
    while written < bytes {
        let key = format!("w{id}-{seq}");
        let len = 8192 + rng.below(56 * 1024);
        target.set(
            &key,
            &record::make(&key, id, seq, len as usize),
            &SetOptions::new(),
        )?;
        written += len;
        seq += 1;
    }
    Ok(())
}

/// Runs `procs` writers of `bytes` each against a 4 MiB limit.
pub fn run(procs: u32, bytes: u64) -> Res<Outcome> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    let target = Target::open("shard", &path, LIMIT)?;
    let exe = std::env::current_exe()?;
    let mut children = (0..procs)
        .map(|id| {
            Command::new(&exe)
                .args(["worker-evict", &path, &id.to_string(), &bytes.to_string()])
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting writer {id} ({}): {e}", exe.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut peak = 0;
    let mut largest_log = 0;
    let mut violations = Vec::new();
    // The bound: the limit, plus what the writers may add before their next
    // cull catches up (each write culls up to ten entries).
    let bound = LIMIT + LIMIT / 2;
    for _ in 0..100_000 {
        peak = peak.max(target.volume()?);
        largest_log = largest_log.max(logs::largest_log(dir.path()));
        let mut running = false;
        for child in &mut children {
            if child.try_wait()?.is_none() {
                running = true;
            }
        }
        if !running {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for mut child in children {
        if !child.wait()?.success() {
            violations.push("an eviction writer failed".to_string());
        }
    }
    if peak > bound {
        violations.push(format!(
            "volume peaked at {peak} bytes, over the bound {bound}"
        ));
    }
    violations.extend(logs::check(largest_log));
    violations.extend(target.check(false)?);
    Ok(Outcome {
        ops: 0,
        procs,
        kills: 0,
        faults: 0,
        violations,
        note: format!(
            "{} MiB written against a {} MiB limit; peak volume {:.2}x the limit (bound 1.5x); largest log {} MiB",
            (bytes * u64::from(procs)) >> 20,
            LIMIT >> 20,
            peak as f64 / LIMIT as f64,
            largest_log >> 20
        ),
    })
}
