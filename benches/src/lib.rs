//! Shared pieces of the benchmark binaries: the systems under test, timing,
//! statistics, key sets.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use diskcache_fanout::FanoutCache;
use diskcache_shard::{Cache, CacheBuilder};
use rusqlite::Connection;

pub mod servers;

/// The benchmarks' result type.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A cache builder as a benchmark's command line asks: the read memo off
/// when `args` holds `--no-memo`, else the library's defaults.
pub fn cache_builder(args: &[String]) -> CacheBuilder {
    if args.iter().any(|a| a == "--no-memo") {
        Cache::builder().memo_bytes(0)
    } else {
        Cache::builder()
    }
}

/// A system under test.
pub enum System {
    /// One cache.
    Shard(Cache),
    /// A fanout cache.
    Fanout(FanoutCache),
    /// The raw-SQLite floor: a plain table `kv(key BLOB PRIMARY KEY, value
    /// BLOB)` with the cache's pragmas, a prepared point `SELECT` and a
    /// one-row `INSERT OR REPLACE` committed on its own.
    Floor(Connection),
    /// Memcached or Redis on loopback, through this crate's Rust client.
    Server(Mutex<servers::Client>),
}

impl System {
    /// Opens `kind` in `dir`: `shard`, `fanoutN` (N shards) or `floor`
    /// (in `dir/floor.db`). A cache kind may end in `-nomemo` (the read
    /// memo off), then in `-nosync` (`Synchronous::Off`: no fsync at all),
    /// and then in `@BYTES`, the SQLite page size of a new cache
    /// (`shard@1024`, `fanout8-nomemo@1024`, `shard-nosync`). A server
    /// already running on a port of 127.0.0.1 is `memcached-rs:PORT` or
    /// `redis-rs:PORT`.
    pub fn open(kind: &str, dir: &Path) -> Res<System> {
        if let Some((name, port)) = kind.split_once(':') {
            let server = servers::Kind::of(name).ok_or(format!("unknown server {name}"))?;
            let client = servers::Client::connect(server, port.parse()?)?;
            return Ok(System::Server(Mutex::new(client)));
        }
        let (kind, builder) = match kind.split_once('@') {
            Some((kind, bytes)) => (kind, Cache::builder().sqlite_page_size(bytes.parse()?)),
            None => (kind, Cache::builder()),
        };
        let (kind, builder) = match kind.strip_suffix("-nosync") {
            Some(kind) => (kind, builder.synchronous(diskcache_shard::Synchronous::Off)),
            None => (kind, builder),
        };
        let (kind, builder) = match kind.strip_suffix("-nomemo") {
            Some(kind) => (kind, builder.memo_bytes(0)),
            None => (kind, builder),
        };
        Ok(match kind {
            "shard" => System::Shard(builder.open(dir)?),
            "floor" => System::open_floor(dir, 0)?,
            other => match other.strip_prefix("fanout").map(str::parse) {
                Some(Ok(shards)) => System::Fanout(
                    FanoutCache::builder()
                        .shards(shards)
                        .cache(builder)
                        .open(dir)?,
                ),
                _ => return Err(format!("unknown system {other}").into()),
            },
        })
    }

    /// Opens the floor in `dir/floor.db` with SQLite's `mmap_size` set to
    /// `mmap_size` (the cache's default is 0).
    pub fn open_floor(dir: &Path, mmap_size: i64) -> Res<System> {
        let conn = Connection::open(dir.join("floor.db"))?;
        conn.execute_batch(&format!(
            "{} PRAGMA busy_timeout = 60000;
             CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB);",
            cache_pragmas(mmap_size)
        ))?;
        Ok(System::Floor(conn))
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Res<Option<Vec<u8>>> {
        Ok(match self {
            System::Shard(c) => c.get(key)?,
            System::Fanout(c) => c.get(key)?,
            System::Floor(c) => {
                let mut stmt = c.prepare_cached("SELECT value FROM kv WHERE key = ?1")?;
                let mut rows = stmt.query([key])?;
                match rows.next()? {
                    Some(row) => Some(row.get(0)?),
                    None => None,
                }
            }
            System::Server(c) => lock(c)?.get(key)?,
        })
    }

    /// Stores `value`; whether it was stored (a fanout shard that stayed
    /// locked reports not stored).
    pub fn set(&self, key: &[u8], value: &[u8]) -> Res<bool> {
        Ok(match self {
            System::Shard(c) => c.set(key, value).map(|()| true)?,
            System::Fanout(c) => c.set(key, value)?,
            System::Floor(c) => {
                c.prepare_cached("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")?
                    .execute([key, value])?;
                true
            }
            System::Server(c) => lock(c)?.set(key, value).map(|()| true)?,
        })
    }

    /// Removes `key`; whether it was present.
    pub fn delete(&self, key: &[u8]) -> Res<bool> {
        Ok(match self {
            System::Shard(c) => c.delete(key)?,
            System::Fanout(c) => c.delete(key)?,
            System::Floor(c) => {
                c.prepare_cached("DELETE FROM kv WHERE key = ?1")?
                    .execute([key])?
                    > 0
            }
            System::Server(c) => lock(c)?.delete(key)?,
        })
    }
}

/// The client behind a server system's lock.
fn lock(client: &Mutex<servers::Client>) -> Res<std::sync::MutexGuard<'_, servers::Client>> {
    client
        .lock()
        .map_err(|_| "a server client's lock was poisoned".into())
}

/// The pragmas a cache's connections run with by default (WAL, synchronous
/// NORMAL, auto_vacuum FULL, an 8192-page cache), with `mmap_size` as given:
/// what the floor and the format-cost schemas get.
pub fn cache_pragmas(mmap_size: i64) -> String {
    format!(
        "PRAGMA auto_vacuum = 1; PRAGMA journal_mode = wal; PRAGMA synchronous = 1; \
         PRAGMA cache_size = 8192; PRAGMA mmap_size = {mmap_size};"
    )
}

/// The `q` quantile (0.0–1.0), in microseconds, of nanosecond latencies
/// already sorted.
pub fn quantile_us(sorted: &[u64], q: f64) -> f64 {
    let index = ((sorted.len().max(1) - 1) as f64 * q).round() as usize;
    sorted.get(index).map_or(f64::NAN, |&ns| ns as f64 / 1000.0)
}

/// Nanosecond latencies of one kind of operation.
#[derive(Default, Clone)]
pub struct Samples(pub Vec<u64>);

impl Samples {
    /// Runs `f` once and records how long it took.
    pub fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.0
            .push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
        out
    }

    /// The latencies, sorted.
    pub fn sorted(&self) -> Vec<u64> {
        let mut v = self.0.clone();
        v.sort_unstable();
        v
    }

    /// The `q` quantile (0.0–1.0) in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        quantile_us(&self.sorted(), q)
    }

    /// Median, p90, p99 in microseconds (sorting once).
    pub fn summary(&self) -> (f64, f64, f64) {
        let v = self.sorted();
        (
            quantile_us(&v, 0.5),
            quantile_us(&v, 0.9),
            quantile_us(&v, 0.99),
        )
    }
}

/// A small deterministic generator (xorshift64*), so every system sees the
/// same sequence.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The byte key number `i`, as the workload uses (short, like python-diskcache's).
pub fn key(i: u64) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

/// A short byte value for key `i`.
pub fn value(i: u64) -> Vec<u8> {
    format!("value-{i:016}-{:032}", i * 7).into_bytes()
}
