//! What the SQLite page size of a new cache (`CacheBuilder::sqlite_page_size`)
//! does to writes and reads of values of several sizes, measured side by
//! side: each round visits every page size in turn.
//!
//! For each page size and value size, one process sets values under 1000
//! keys (replacing them, `sets` per round) and gets them back; reported are
//! the median set, the mean set (which carries the checkpoints' fsyncs, paid
//! by one set in a few hundred), the sets per second, and the median get.
//!
//! Usage: `page-size [sets-per-round] [rounds]` (defaults 3000 and 3).

use std::time::Instant;

use diskcache_bench::{Res, Rng, Samples};
use diskcache_shard::Cache;
use serde_bytes::Bytes;

const KEYS: u64 = 1000;
const PAGES: [u32; 3] = [1024, 2048, 4096];
const VALUES: [usize; 4] = [100, 2048, 8192, 30_000];

/// Latencies of one page size and value size, over all rounds.
#[derive(Default)]
struct Cell {
    set: Samples,
    get: Samples,
    set_seconds: f64,
}

fn round(cache: &Cache, value: &[u8], sets: u64, seed: u64, cell: &mut Cell) -> Res<()> {
    let mut rng = Rng::new(seed);
    let began = Instant::now();
    for _ in 0..sets {
        let k = rng.below(KEYS);
        cell.set.time(|| cache.set(&k, Bytes::new(value)))?;
    }
    cell.set_seconds += began.elapsed().as_secs_f64();
    let mut rng = Rng::new(seed + 1);
    for _ in 0..sets {
        let k = rng.below(KEYS);
        cell.get.time(|| cache.get::<Vec<u8>>(&k))?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let sets: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(3000);
    let rounds: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dir = tempfile::tempdir()?;
    let mut cells: Vec<Vec<Cell>> = Vec::new();
    let mut caches: Vec<Vec<Cache>> = Vec::new();
    for page in PAGES {
        let mut row = Vec::new();
        for size in VALUES {
            let cache = Cache::builder()
                .sqlite_page_size(page)
                .open(dir.path().join(format!("{page}-{size}")))?;
            let value = vec![7_u8; size];
            for k in 0..KEYS {
                cache.set(&k, Bytes::new(&value))?;
            }
            row.push(cache);
        }
        caches.push(row);
        cells.push(VALUES.iter().map(|_| Cell::default()).collect());
    }
    for r in 0..rounds {
        for (p, row) in caches.iter().enumerate() {
            for (v, cache) in row.iter().enumerate() {
                let value = vec![7_u8; VALUES[v]];
                round(cache, &value, sets, r + 1, &mut cells[p][v])?;
            }
        }
    }
    println!(
        "page  value    set median  set mean   sets/s  get median   ({sets} sets and gets per round, {rounds} rounds; µs)"
    );
    for (p, page) in PAGES.iter().enumerate() {
        for (v, size) in VALUES.iter().enumerate() {
            let cell = &cells[p][v];
            let n = cell.set.0.len() as f64;
            let mean = cell.set.0.iter().sum::<u64>() as f64 / n / 1000.0;
            println!(
                "{page:>5} {size:>6}   {:>9.1} {:>9.1} {:>8.0} {:>10.1}",
                cell.set.quantile_us(0.5),
                mean,
                n / cell.set_seconds,
                cell.get.quantile_us(0.5)
            );
        }
    }
    Ok(())
}
