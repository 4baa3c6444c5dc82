//! Helper process for the fanout multi-process tests:
//! `fanout-test-helper <command> <dir> [args…]`.
//!
//! - `incr <dir> <n>`: increment `counter` `n` times, retrying "not stored".
//! - `hold <dir> <key> <millis>`: lock the shard holding `key`, print
//!   `locked`, hold it.

use std::io::Write;
use std::time::Duration;

use diskcache_fanout::FanoutCache;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().ok_or("missing argument");
    let cache = FanoutCache::open(arg(2)?)?;
    match arg(1)?.as_str() {
        "incr" => {
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
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
