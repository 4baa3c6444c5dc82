//! Helper process for the fanout multi-process tests:
//! `fanout-test-helper <command> <dir> [args…]`.
//!
//! - `incr <dir> <n>`: increment `counter` `n` times, retrying "not stored".
//! - `hold <dir> <key> <millis>`: lock the shard holding `key`, print
//!   `locked`, hold it.
//! - `open <dir> <timeout-millis> <start-millis>`: wait until `start-millis`
//!   (milliseconds since the Unix epoch), open with that per-operation
//!   timeout, read a key, and print `opened <micros>` (how long the open
//!   took) or `error <e>` (and fail).
//! - `write <dir> <millis>`: set keys of every shard in a loop for
//!   `millis`, printing `writing` after the first set.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache_fanout::FanoutCache;
use diskcache_shard::CacheBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().ok_or("missing argument");
    let dir = arg(2)?;
    match arg(1)?.as_str() {
        "incr" => {
            let cache = FanoutCache::open(&dir)?;
            let n: u32 = arg(3)?.parse()?;
            for _ in 0..n {
                let mut tries = 0;
                while cache.incr("counter", 1, Some(0))?.is_none() {
                    tries += 1;
                    if tries > 1000 {
                        return Err("shard stayed locked".into());
                    }
                }
            }
        }
        "hold" => {
            let cache = FanoutCache::open(&dir)?;
            let key = arg(3)?;
            let millis: u64 = arg(4)?.parse()?;
            let shard = cache.shard_for(key.as_str())?;
            shard.transact(|| {
                shard.set("holder", &1)?;
                println!("locked");
                std::io::stdout()
                    .flush()
                    .map_err(|e| diskcache_shard::Error::Encode {
                        message: e.to_string(),
                    })?;
                std::thread::sleep(Duration::from_millis(millis));
                Ok::<_, diskcache_shard::Error>(())
            })?;
        }
        "open" => {
            let timeout = Duration::from_millis(arg(3)?.parse()?);
            let start = UNIX_EPOCH + Duration::from_millis(arg(4)?.parse()?);
            if let Ok(wait) = start.duration_since(SystemTime::now()) {
                std::thread::sleep(wait);
            }
            let began = Instant::now();
            let opened = FanoutCache::builder()
                .cache(CacheBuilder::new().timeout(timeout))
                .open(&dir);
            let took = began.elapsed();
            match opened {
                Ok(cache) => {
                    cache.get::<i64>("anything")?;
                    println!("opened {}", took.as_micros());
                }
                Err(e) => {
                    println!("error {e}");
                    return Err(e.into());
                }
            }
        }
        "write" => {
            let cache = FanoutCache::open(&dir)?;
            let limit = Duration::from_millis(arg(3)?.parse()?);
            let started = Instant::now();
            let mut i = 0u64;
            while started.elapsed() < limit {
                cache.set(&format!("w{}", i % 500), &i)?;
                if i == 0 {
                    println!("writing");
                    std::io::stdout().flush()?;
                }
                i += 1;
            }
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
