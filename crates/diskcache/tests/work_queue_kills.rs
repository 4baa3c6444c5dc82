//! A work queue shared by consumer processes that are SIGKILLed at random:
//! every job's result is committed exactly once (the result and the
//! acknowledgement share one transaction; a lease that ran out puts the
//! job back for another consumer), and no job is lost.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use diskcache::{Cache, WorkQueue};

const HELPER: &str = env!("CARGO_BIN_EXE_diskcache-test-helper");
const JOBS: u64 = 300;

fn consumer(dir: &str) -> std::io::Result<Child> {
    Command::new(HELPER).args(["consume", dir, "150"]).spawn()
}

#[test]
fn jobs_are_done_exactly_once_while_consumers_are_killed() -> Result<(), Box<dyn std::error::Error>>
{
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_str().ok_or("path")?;
    let cache = Cache::open(tmp.path())?;
    let queue: WorkQueue<u64> = WorkQueue::new(cache.clone(), "jobs");
    for n in 0..JOBS {
        queue.push(&n)?;
    }
    let done = |cache: &Cache| -> diskcache::Result<Vec<i64>> {
        (0..JOBS)
            .map(|n| Ok(cache.get::<i64>(&format!("done/{n}"))?.unwrap_or(0)))
            .collect()
    };
    let mut consumers: Vec<Child> = (0..3).map(|_| consumer(dir)).collect::<Result<_, _>>()?;
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut kills = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(20 + rng % 60));
        if done(&cache)?.iter().all(|&c| c > 0) {
            break;
        }
        if kills < 40 {
            let victim = usize::try_from(rng % 3)?;
            consumers[victim].kill()?;
            consumers[victim].wait()?;
            consumers[victim] = consumer(dir)?;
            kills += 1;
        }
    }
    for mut c in consumers {
        c.kill()?;
        c.wait()?;
    }
    let counts = done(&cache)?;
    let missing: Vec<u64> = (0..JOBS).filter(|&n| counts[n as usize] == 0).collect();
    let twice: Vec<u64> = (0..JOBS).filter(|&n| counts[n as usize] > 1).collect();
    assert!(missing.is_empty(), "jobs never done: {missing:?}");
    assert!(twice.is_empty(), "jobs done more than once: {twice:?}");
    assert!(kills >= 5, "only {kills} consumers were killed");
    assert!(
        queue.reserve(Duration::from_secs(1))?.is_none(),
        "a job was left"
    );
    Ok(())
}
