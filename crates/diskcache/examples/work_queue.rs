//! A work queue shared by processes, with a consumer killed mid-job.
//!
//! The example pushes jobs to a [`WorkQueue`], then starts three copies of
//! itself as consumers. Each takes jobs with a lease, does them, and
//! records the result and the acknowledgement in one transaction. One
//! consumer is killed (`Child::kill`) in the middle of a job; its lease runs
//! out and another consumer does that job. At the end every job has been
//! done exactly once.
//!
//! Run with `cargo run --release -p diskcache-rs --example work_queue`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use diskcache::{Cache, WorkQueue};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const JOBS: u32 = 40;
const CONSUMERS: usize = 3;
/// A consumer that holds a job longer than this has lost it.
const LEASE: Duration = Duration::from_millis(800);
/// How long one job takes.
const WORK: Duration = Duration::from_millis(100);
/// How long the whole run may take before the children are stopped.
const DEADLINE: Duration = Duration::from_secs(60);

fn queue(dir: &Path) -> Res<WorkQueue<u32>> {
    Ok(WorkQueue::new(Cache::open(dir)?, "thumbnails"))
}

/// One consumer: takes jobs until none has come for two seconds.
fn consume(dir: &Path, name: &str) -> Res<()> {
    let queue = queue(dir)?;
    let cache = queue.cache().clone();
    while let Some(job) = queue.reserve_wait(LEASE, Duration::from_secs(2))? {
        cache.incr(&format!("taken/{name}"), 1, Some(0))?;
        std::thread::sleep(WORK); // the job itself: resize picture number `job.payload`
        let done = cache.transact(|| -> diskcache::Result<bool> {
            if !queue.ack(&job)? {
                // The lease ran out and the job went to someone else.
                return Ok(false);
            }
            cache.incr(&format!("done/{}", job.payload), 1, Some(0))?;
            cache.incr(&format!("by/{name}"), 1, Some(0))?;
            if job.attempt > 1 {
                cache.incr("retried", 1, Some(0))?;
            }
            Ok(true)
        })?;
        if !done {
            cache.incr("late", 1, Some(0))?;
        }
    }
    Ok(())
}

/// Waits for `child` until `deadline`; stops it when that passes.
fn wait(child: &mut Child, deadline: Instant) -> Res<bool> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.success());
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "consume" {
        return consume(&PathBuf::from(&args[2]), &args[3]);
    }

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("queue");
    let queue = queue(&dir)?;
    let cache = queue.cache().clone();
    for picture in 1..=JOBS {
        queue.push(&picture)?;
    }
    println!(
        "pushed {JOBS} jobs; {CONSUMERS} consumer processes take them with {} ms leases",
        LEASE.as_millis()
    );

    let started = Instant::now();
    let deadline = started + DEADLINE;
    let exe = std::env::current_exe()?;
    let names: Vec<String> = (1..=CONSUMERS).map(|i| format!("consumer-{i}")).collect();
    let mut children = names
        .iter()
        .map(|name| {
            Command::new(&exe)
                .arg("consume")
                .arg(&dir)
                .arg(name)
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;

    // Kill consumer-1 halfway through its second job.
    let victim = "consumer-1";
    while cache.get::<i64>(&format!("taken/{victim}"))?.unwrap_or(0) < 2 {
        if children[0].try_wait()?.is_some() || Instant::now() >= deadline {
            for child in &mut children {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err("the consumer to be killed never took a second job".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(WORK / 2);
    children[0].kill()?;
    children[0].wait()?;
    println!(
        "killed {victim} after {:.2} s, in the middle of its second job",
        started.elapsed().as_secs_f64()
    );

    let mut failed = 0;
    for child in &mut children[1..] {
        if !wait(child, deadline)? {
            failed += 1;
        }
    }
    println!(
        "the other consumers ran out of work (each waits 2 s for more) and stopped after {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let count = |key: &str| -> diskcache::Result<i64> { Ok(cache.get::<i64>(key)?.unwrap_or(0)) };
    for name in &names {
        println!(
            "  {name}: took {} jobs, completed {}",
            count(&format!("taken/{name}"))?,
            count(&format!("by/{name}"))?
        );
    }
    let mut once = 0;
    let mut twice = 0;
    let mut never = 0;
    for picture in 1..=JOBS {
        match count(&format!("done/{picture}"))? {
            0 => never += 1,
            1 => once += 1,
            _ => twice += 1,
        }
    }
    let left = queue.reserve(LEASE)?.is_some();
    println!(
        "{once} of {JOBS} jobs done exactly once, {twice} more than once, {never} never; \
         {} done again after a lease ran out; jobs left in the queue: {}",
        count("retried")?,
        if left { "some" } else { "none" }
    );

    drop((queue, cache));
    tmp.close()?;
    if once != JOBS || failed > 0 || left {
        return Err("not every job was done exactly once".into());
    }
    Ok(())
}
