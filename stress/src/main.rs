//! The stress harness: many processes, crashes and faults, nothing lost.
//!
//! ```text
//! stress [--quick | --long] [load | memo | crash | evict | faults | hostile | work]...
//! ```
//!
//! With no scenario named, all run. Each prints one summary line
//! (operations, processes, kills survived, faults tried, violations), the
//! violations themselves if any, and the run exits non-zero if there were
//! any. `--quick` (the CI run) takes well under two minutes; `--long` is
//! the documented run (see docs/stress.md).

mod counters;
mod crash;
mod evict;
mod faults;
mod hostile;
mod load;
mod logs;
mod memo;
mod record;
mod target;
mod work;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The harness's result type.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// What one scenario did and found.
pub struct Outcome {
    /// Operations run by the workers.
    pub ops: u64,
    /// Worker processes.
    pub procs: u32,
    /// Writer processes killed and recovered from.
    pub kills: u32,
    /// Faults injected.
    pub faults: u32,
    /// Invariants found broken: must be empty.
    pub violations: Vec<String>,
    /// Anything else worth printing.
    pub note: String,
}

/// Runs `procs` copies of this binary with the arguments `args(id)` and
/// returns their standard output.
pub fn spawn_workers(procs: u32, args: impl Fn(u32) -> Vec<String>) -> Res<Vec<String>> {
    let exe = std::env::current_exe()?;
    let children = (0..procs)
        .map(|id| {
            Command::new(&exe)
                .args(args(id))
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut outputs = Vec::new();
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(
                format!("a worker failed: {}", String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        outputs.push(String::from_utf8(out.stdout)?);
    }
    Ok(outputs)
}

/// Runs `procs` workers `worker KIND DIR ID OPS` and gives their outputs.
pub fn spawn_kind(worker: &str, kind: &str, dir: &str, procs: u32, ops: u64) -> Res<Vec<String>> {
    spawn_workers(procs, |id| {
        vec![
            worker.into(),
            kind.into(),
            dir.into(),
            id.to_string(),
            ops.to_string(),
        ]
    })
}

struct Sizes {
    load_ops: u64,
    kills: u32,
    evict_bytes: u64,
    /// The time unit of the hostile scenario's phases.
    hostile_unit: Duration,
}

fn worker(args: &[String]) -> Res<()> {
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or("missing argument");
    match arg(0)? {
        "worker-load" => load::worker(arg(1)?, arg(2)?, arg(3)?.parse()?, arg(4)?.parse()?),
        "worker-memo" => memo::worker(arg(1)?, arg(2)?, arg(3)?.parse()?, arg(4)?.parse()?),
        "worker-crash" => crash::worker(arg(1)?, arg(2)?, arg(3)?.parse()?),
        "worker-evict" => evict::worker(arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?),
        "worker-faults-mount" => faults::worker_mounted(),
        "worker-hostile" => hostile::worker(&args[1..]),
        "worker-work" => work::worker(arg(1)?),
        other => Err(format!("unknown worker {other}").into()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a.starts_with("worker-")) {
        if let Err(e) = worker(&args) {
            eprintln!("{e}");
            std::process::exit(2);
        }
        return;
    }
    let sizes = if args.iter().any(|a| a == "--long") {
        Sizes {
            load_ops: 100_000,
            kills: 500,
            evict_bytes: 256 << 20,
            hostile_unit: Duration::from_secs(5),
        }
    } else if args.iter().any(|a| a == "--quick") {
        Sizes {
            load_ops: 3_000,
            kills: 25,
            evict_bytes: 16 << 20,
            hostile_unit: Duration::from_millis(500),
        }
    } else {
        Sizes {
            load_ops: 20_000,
            kills: 100,
            evict_bytes: 64 << 20,
            hostile_unit: Duration::from_secs(1),
        }
    };
    let named: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let wanted = |s: &str| named.is_empty() || named.contains(&s);
    let procs =
        u32::try_from(2 * std::thread::available_parallelism().map_or(2, |n| n.get())).unwrap_or(4);

    type Scenario<'a> = (&'a str, Box<dyn Fn() -> Res<Outcome> + 'a>);
    let mut scenarios: Vec<Scenario> = Vec::new();
    if wanted("load") {
        scenarios.push((
            "load/shard",
            Box::new(|| load::run("shard", procs, sizes.load_ops)),
        ));
        scenarios.push((
            "load/fanout",
            Box::new(|| load::run("fanout", procs, sizes.load_ops)),
        ));
    }
    if wanted("memo") {
        scenarios.push((
            "memo/shard",
            Box::new(|| memo::run("shard", 2, sizes.load_ops * 4)),
        ));
        scenarios.push((
            "memo/fanout",
            Box::new(|| memo::run("fanout", procs, sizes.load_ops * 4)),
        ));
    }
    if wanted("crash") {
        scenarios.push(("crash/shard", Box::new(|| crash::run("shard", sizes.kills))));
        scenarios.push((
            "crash/fanout",
            Box::new(|| crash::run("fanout", sizes.kills / 2)),
        ));
    }
    if wanted("evict") {
        scenarios.push(("evict", Box::new(|| evict::run(2, sizes.evict_bytes / 2))));
    }
    if wanted("faults") {
        scenarios.push(("faults", Box::new(faults::run)));
    }
    if wanted("work") {
        let kills = sizes.kills;
        scenarios.push((
            "work",
            Box::new(move || work::run(4, u64::from(kills) * 40, kills)),
        ));
    }
    if wanted("hostile") {
        let unit = sizes.hostile_unit;
        scenarios.push(("hostile/link", Box::new(move || hostile::run_link(unit))));
        scenarios.push(("hostile/full", Box::new(move || hostile::run_full(unit))));
        scenarios.push(("hostile/swap", Box::new(move || hostile::run_swap(unit))));
        scenarios.push((
            "hostile/dblink",
            Box::new(move || hostile::run_dblink(unit)),
        ));
    }

    let mut failed = false;
    for (name, run) in scenarios {
        let started = Instant::now();
        match run() {
            Ok(o) => {
                println!(
                    "{name:<13} ops={:<8} procs={:<2} kills={:<4} faults={:<2} violations={} secs={:.1}{}",
                    o.ops,
                    o.procs,
                    o.kills,
                    o.faults,
                    o.violations.len(),
                    started.elapsed().as_secs_f64(),
                    if o.note.is_empty() {
                        String::new()
                    } else {
                        format!("  ({})", o.note)
                    }
                );
                for v in o.violations.iter().take(20) {
                    println!("    violation: {v}");
                }
                failed |= !o.violations.is_empty();
            }
            Err(e) => {
                println!("{name:<13} error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
