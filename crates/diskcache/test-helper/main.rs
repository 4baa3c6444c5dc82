//! Helper process for the facade's multi-process tests:
//! `diskcache-test-helper <command> <dir> [args…]`.
//!
//! - `append <dir> <id> <n>`: append `<id>-<i>` to the deque `jobs` of the
//!   fanout cache in `dir`.
//! - `lock <dir> <n>`: take the lock `L` of the fanout cache `n` times,
//!   holding it 2 ms each time; print each hold as `start end` (µs since
//!   the Unix epoch).
//! - `throttle <dir> <seconds>`: call through a 10-per-second throttle of
//!   the cache in `dir` for that long; print each call's time (µs).
//! - `stampede <dir> <start-ms>`: at the given instant, get a cold key
//!   through stampede-protected memoization whose computation takes 300 ms
//!   and counts itself in `computations`.
//! - `consume <dir> <lease-ms>`: takes jobs (numbers) from the work queue
//!   `jobs` of the cache in `dir` until none comes for 3 s; for each, in
//!   one transaction, counts `done/<number>` and acknowledges the job
//!   (rolled back when the lease was lost).
//! - `update <dir> <cache|fanout> <n>`: add 1 to the counter `total` `n`
//!   times through `DiskCache::update` (a read-modify-write of a
//!   MessagePack value, not `incr`) on a Cache or a FanoutCache in `dir`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache::recipes::{Lock, Memo, Stampede, Throttle};
use diskcache::{Cache, Deque, DiskCache, FanoutCache, Named, WorkQueue};

/// `n` read-modify-writes of the counter `total` in `cache`.
fn updates(cache: &impl DiskCache, n: u32) -> diskcache::Result<()> {
    for _ in 0..n {
        cache.update("total", |t: Option<(u64, String)>| {
            let (count, _) = t.unwrap_or_default();
            Some((count + 1, format!("after {}", count + 1)))
        })?;
    }
    Ok(())
}

fn micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().ok_or("missing argument");
    let dir = arg(2)?;
    match arg(1)?.as_str() {
        "consume" => {
            let cache = Cache::open(&dir)?;
            let queue: WorkQueue<u64> = WorkQueue::new(cache.clone(), "jobs");
            let lease = Duration::from_millis(arg(3)?.parse()?);
            while let Some(job) = queue.reserve_wait(lease, Duration::from_secs(3))? {
                // The work: long enough for kills to land inside it.
                std::thread::sleep(Duration::from_micros(1000 + (job.id % 5) * 1000));
                let done = cache.transact(|| {
                    cache.incr(&format!("done/{}", job.payload), 1, Some(0))?;
                    if queue.ack(&job)? {
                        Ok(())
                    } else {
                        Err(diskcache::Error::NotFound)
                    }
                });
                match done {
                    Ok(()) | Err(diskcache::Error::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        "append" => {
            let jobs: Deque<String> = FanoutCache::open(&dir)?.deque("jobs")?;
            let id = arg(3)?;
            let n: u32 = arg(4)?.parse()?;
            for i in 0..n {
                jobs.append(&format!("{id}-{i}"))?;
            }
        }
        "lock" => {
            let lock = Lock::new(FanoutCache::open(&dir)?, "L").expire(Duration::from_secs(30));
            let n: u32 = arg(3)?.parse()?;
            let mut out = String::new();
            for _ in 0..n {
                let guard = lock.acquire()?;
                let start = micros();
                std::thread::sleep(Duration::from_millis(2));
                let end = micros();
                guard.release()?;
                out.push_str(&format!("{start} {end}\n"));
            }
            print!("{out}");
        }
        "throttle" => {
            let seconds: f64 = arg(3)?.parse()?;
            let throttle = Throttle::new(Cache::open(&dir)?, "T", 10, Duration::from_secs(1))?;
            let until = Instant::now() + Duration::from_secs_f64(seconds);
            let mut out = String::new();
            while Instant::now() < until {
                if throttle.acquire_timeout(until - Instant::now()).is_err() {
                    break;
                }
                out.push_str(&format!("{}\n", micros()));
            }
            print!("{out}");
        }
        "stampede" => {
            let cache = FanoutCache::open(&dir)?;
            let start: u128 = arg(3)?.parse()?;
            while micros() / 1000 < start {
                std::thread::sleep(Duration::from_micros(200));
            }
            let memo =
                Stampede::new(Memo::new(cache.clone(), "slow").expire(Duration::from_secs(60)));
            let value: u64 = memo.get_or_compute(&"cold-key", || {
                let _ = cache.incr("computations", 1, Some(0));
                std::thread::sleep(Duration::from_millis(300));
                42
            })?;
            println!("{value}");
        }
        "update" => {
            let n: u32 = arg(4)?.parse()?;
            match arg(3)?.as_str() {
                "cache" => updates(&Cache::open(&dir)?, n)?,
                _ => updates(&FanoutCache::builder().shards(4).open(&dir)?, n)?,
            }
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
