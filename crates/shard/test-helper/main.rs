//! Helper process for the multi-process tests: `shard-test-helper <command> <dir> [args…]`.
//!
//! - `work <dir> <id> <n>`: open (racing other openers), store `n` keys
//!   `w<id>-<i>` and increment `counter` `n` times.
//! - `hold <dir> <millis>`: take the write lock, print `locked`, hold it.
//! - `push <dir> <id> <n>`: push `n` items `<id>-<i>` onto the queue `q`.
//! - `churn <dir> <id> <n>`: `n` sets of 100-byte values over 2000 keys,
//!   as fast as it can.
//! - `set <dir> <key> <n>`: store the integer `n` under `key`.
//! - `limit <dir> <bytes>`: change the cache's size limit to `bytes`.
//! - `watch <dir> <key> <n> <millis>`: read the integer under `key` every
//!   10 ms, printing `saw <value>` (or `error <e>`) whenever that changes,
//!   until it reads `n` or `millis` have passed.
//! - `read-value <dir> <key>`: `get` and then `read` the bytes under
//!   `key`, printing `get <n> bytes`, `get none` or `get error <e>` (and
//!   the same for `read`).
//! - `sets <dir> <prefix> <n>`: up to `n` sets of small values under
//!   `<prefix><i>`, printing `set <i> ok` or `set <i> error <e>` for each
//!   and stopping at the first error.
//! - `daemon`, `fork-busy`, `fork-transact`, `fd-limit`: see `fork.rs`.

mod fork;

use std::io::Write;
use std::time::{Duration, Instant};

use diskcache_shard::{Cache, Error, Side};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().ok_or("missing argument");
    match arg(1)?.as_str() {
        "daemon" => return fork::daemon(&arg(2)?, arg(3)?.parse()?),
        "fork-busy" => return fork::busy(&arg(2)?, arg(3)?.parse()?),
        "fork-transact" => return fork::transact(&arg(2)?),
        "fd-limit" => return fork::fd_limit(&arg(2)?, arg(3)?.parse()?),
        _ => {}
    }
    let cache = Cache::builder().open(arg(2)?)?;
    match arg(1)?.as_str() {
        "work" => {
            let id: u32 = arg(3)?.parse()?;
            let n: u32 = arg(4)?.parse()?;
            for i in 0..n {
                cache.set(&format!("w{id}-{i}"), &(id * 1_000_000 + i))?;
                cache.incr("counter", 1, Some(0))?;
            }
        }
        "hold" => {
            let millis: u64 = arg(3)?.parse()?;
            cache.transact(|| {
                cache.set("holder", &1)?;
                println!("locked");
                std::io::stdout().flush().map_err(|e| Error::Encode {
                    message: e.to_string(),
                })?;
                std::thread::sleep(Duration::from_millis(millis));
                Ok::<_, Error>(())
            })?;
        }
        "push" => {
            let id: u32 = arg(3)?.parse()?;
            let n: u32 = arg(4)?.parse()?;
            for i in 0..n {
                cache.push(&format!("{id}-{i}"), Some("q"), Side::Back)?;
            }
        }
        "churn" => {
            let id: usize = arg(3)?.parse()?;
            let n: usize = arg(4)?.parse()?;
            let value = vec![7u8; 100];
            for i in 0..n {
                cache.set(&format!("k{}", (i * 7919 + id * 1000) % 2000), &value)?;
            }
        }
        "set" => {
            let n: i64 = arg(4)?.parse()?;
            cache.set(&arg(3)?, &n)?;
        }
        "limit" => cache.set_size_limit(arg(3)?.parse()?)?,
        "watch" => {
            let key = arg(3)?;
            let want: i64 = arg(4)?.parse()?;
            let limit = Duration::from_millis(arg(5)?.parse()?);
            let started = Instant::now();
            let mut last = String::new();
            while started.elapsed() < limit {
                let read = cache.get::<i64>(&key);
                let now = match &read {
                    Ok(Some(v)) => format!("saw {v}"),
                    Ok(None) => "saw nothing".to_string(),
                    Err(e) => format!("error {e}"),
                };
                if now != last {
                    println!("{now}");
                    std::io::stdout().flush()?;
                    last = now;
                }
                if matches!(read, Ok(Some(v)) if v == want) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        "read-value" => {
            let key = arg(3)?;
            match cache.get::<Vec<u8>>(&key) {
                Ok(Some(v)) => println!("get {} bytes", v.len()),
                Ok(None) => println!("get none"),
                Err(e) => println!("get error {e}"),
            }
            match cache.read(&key) {
                Ok(Some(v)) => println!("read {} bytes", v.len()),
                Ok(None) => println!("read none"),
                Err(e) => println!("read error {e}"),
            }
        }
        "sets" => {
            let prefix = arg(3)?;
            let n: u32 = arg(4)?.parse()?;
            for i in 0..n {
                match cache.set(&format!("{prefix}{i}"), &i64::from(i)) {
                    Ok(()) => println!("set {i} ok"),
                    Err(e) => {
                        println!("set {i} error {e}");
                        break;
                    }
                }
                std::io::stdout().flush()?;
            }
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
