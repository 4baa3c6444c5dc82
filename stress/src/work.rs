//! The work queue under kills: consumer processes take jobs from one
//! `WorkQueue`, and for each commit its result and the acknowledgement in
//! one transaction; the harness SIGKILLs consumers at random moments and
//! starts new ones. Invariants: every job's result is committed exactly
//! once, and the queue ends empty.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use diskcache::{Cache, Error, WorkQueue};

use crate::{Outcome, Res};

/// A consumer lease: short, so that a killed consumer's job comes back soon.
const LEASE_MS: u64 = 100;

/// The consumer: `worker-work DIR`, until no job comes for 2 s.
pub fn worker(dir: &str) -> Res<()> {
    let cache = Cache::open(dir)?;
    let queue: WorkQueue<u64> = WorkQueue::new(cache.clone(), "jobs");
    let lease = Duration::from_millis(LEASE_MS);
    while let Some(job) = queue.reserve_wait(lease, Duration::from_secs(2))? {
        // The work, long enough for a kill to land inside it now and then.
        std::thread::sleep(Duration::from_micros(1000 + (job.id % 4) * 500));
        let done = cache.transact(|| {
            cache.incr(&format!("done/{}", job.payload), 1, Some(0))?;
            cache.incr("done-total", 1, Some(0))?;
            if queue.ack(&job)? {
                Ok(())
            } else {
                // The lease ran out: another consumer has the job.
                Err(Error::NotFound)
            }
        });
        match done {
            Ok(()) | Err(Error::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn consumer(dir: &str) -> Res<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args(["worker-work", dir])
        .spawn()?)
}

/// Pushes `jobs` jobs, runs `procs` consumers, kills one at random every
/// 10 to 60 ms (at most `kills` times) until every job is done.
pub fn run(procs: u32, jobs: u64, kills: u32) -> Res<Outcome> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_str().ok_or("path")?.to_owned();
    let cache = Cache::open(tmp.path())?;
    let queue: WorkQueue<u64> = WorkQueue::new(cache.clone(), "jobs");
    for n in 0..jobs {
        queue.push(&n)?;
    }
    let counts = |cache: &Cache| -> Res<Vec<i64>> {
        (0..jobs)
            .map(|n| Ok(cache.get::<i64>(&format!("done/{n}"))?.unwrap_or(0)))
            .collect()
    };
    let mut consumers = (0..procs)
        .map(|_| consumer(&dir))
        .collect::<Res<Vec<_>>>()?;
    let mut rng = diskcache_bench::Rng::new(11);
    let mut killed = 0;
    let started = Instant::now();
    let limit = Duration::from_secs(120);
    while started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(10 + rng.below(50)));
        // Each job counts once in the total unless one was done twice,
        // which the final check finds.
        let total = cache.get::<i64>("done-total")?.unwrap_or(0);
        if u64::try_from(total).unwrap_or(0) >= jobs {
            break;
        }
        if killed < kills {
            let victim = usize::try_from(rng.below(u64::from(procs)))?;
            consumers[victim].kill()?;
            consumers[victim].wait()?;
            consumers[victim] = consumer(&dir)?;
            killed += 1;
        }
        // A consumer that found no job for 2 s has left: start another.
        for c in &mut consumers {
            if c.try_wait()?.is_some() {
                *c = consumer(&dir)?;
            }
        }
    }
    for mut c in consumers {
        c.kill()?;
        c.wait()?;
    }
    let counts = counts(&cache)?;
    let mut violations = Vec::new();
    for (n, &c) in counts.iter().enumerate() {
        match c {
            1 => {}
            0 => violations.push(format!("job {n} was never done")),
            c => violations.push(format!("job {n} was done {c} times")),
        }
    }
    if queue.reserve(Duration::from_secs(1))?.is_some() {
        violations.push("a job was left in the queue".into());
    }
    Ok(Outcome {
        ops: jobs,
        procs,
        kills: killed,
        faults: 0,
        violations,
        note: format!("{jobs} jobs, lease {LEASE_MS} ms"),
    })
}
