//! Shard operations against a raw-SQLite floor, measured side by side.
//!
//! The floor is what SQLite itself costs: a plain table `kv(key BLOB
//! PRIMARY KEY, value BLOB)` with the same pragmas as the cache (WAL,
//! synchronous NORMAL, auto_vacuum FULL, 8192-page cache, no mmap), a
//! prepared point SELECT, and a one-row INSERT OR REPLACE committed on its
//! own. Sets are measured twice: replacing the value of a present key, and
//! storing a key never seen before. Rounds alternate between the systems so that the machine's noise
//! falls on all of them alike.
//!
//! Usage: `shard-vs-floor [--no-memo] [ops-per-round] [rounds]`
//! (`--no-memo`: the caches' read memo off, `CacheBuilder::memo_bytes(0)`)

use diskcache_bench::{Rng, Samples, System, cache_builder, key, value};
use diskcache_shard::EvictionPolicy;

const KEYS: u64 = 10_000;

#[derive(Default)]
struct Results {
    get: Samples,
    /// Sets of keys already present (short values replace short values).
    set: Samples,
    /// Sets of keys never stored before.
    insert: Samples,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().collect();
    let builder = cache_builder(&all);
    let args: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
    let ops: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let rounds: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let dir = tempfile::tempdir()?;
    let floor = System::open("floor", dir.path())?;
    let lrs = builder.clone().open(dir.path().join("lrs"))?;
    let lru = builder
        .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
        .open(dir.path().join("lru"))?;
    for i in 0..KEYS {
        floor.set(&key(i), &value(i))?;
        lrs.set(&key(i), &value(i))?;
        lru.set(&key(i), &value(i))?;
    }
    let (mut f, mut s, mut u) = (Results::default(), Results::default(), Results::default());
    for round in 0..rounds {
        let seed = round + 1;
        let mut rng = Rng::new(seed);
        for _ in 0..ops {
            let i = rng.below(KEYS);
            let got = f.get.time(|| floor.get(&key(i)))?;
            assert!(got.is_some());
        }
        let mut rng = Rng::new(seed);
        for _ in 0..ops {
            let i = rng.below(KEYS);
            let got = s.get.time(|| lrs.get::<Vec<u8>>(&key(i)))?;
            assert!(got.is_some());
        }
        let mut rng = Rng::new(seed);
        for _ in 0..ops {
            let i = rng.below(KEYS);
            let got = u.get.time(|| lru.get::<Vec<u8>>(&key(i)))?;
            assert!(got.is_some());
        }
        let set_ops = ops / 4;
        let mut rng = Rng::new(seed + 1000);
        for _ in 0..set_ops {
            let i = rng.below(KEYS);
            f.set.time(|| floor.set(&key(i), &value(i + round)))?;
        }
        let mut rng = Rng::new(seed + 1000);
        for _ in 0..set_ops {
            let i = rng.below(KEYS);
            s.set.time(|| lrs.set(&key(i), &value(i + round)))?;
        }
        let mut rng = Rng::new(seed + 1000);
        for _ in 0..set_ops {
            let i = rng.below(KEYS);
            u.set.time(|| lru.set(&key(i), &value(i + round)))?;
        }
        // New keys: each round inserts its own fresh range.
        let fresh = KEYS + round * set_ops;
        for i in fresh..fresh + set_ops {
            f.insert.time(|| floor.set(&key(i), &value(i)))?;
        }
        for i in fresh..fresh + set_ops {
            s.insert.time(|| lrs.set(&key(i), &value(i)))?;
        }
        for i in fresh..fresh + set_ops {
            u.insert.time(|| lru.set(&key(i), &value(i)))?;
        }
    }
    println!(
        "{ops} gets, {0} overwriting sets and {0} new-key sets per round; {rounds} rounds; {KEYS} keys prefilled",
        ops / 4
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9}",
        "system / op (µs)", "median", "p90", "p99"
    );
    let row = |name: &str, s: &Samples| {
        let (m, p90, p99) = s.summary();
        println!("{name:<34} {m:>9.2} {p90:>9.2} {p99:>9.2}");
    };
    row("floor get (prepared SELECT)", &f.get);
    row("shard get, least-recently-stored", &s.get);
    row("shard get, least-recently-used", &u.get);
    row("floor set (INSERT OR REPLACE)", &f.set);
    row("shard set, least-recently-stored", &s.set);
    row("shard set, least-recently-used", &u.set);
    row("floor set, new key", &f.insert);
    row("shard set, new key, LRS", &s.insert);
    row("shard set, new key, LRU", &u.insert);
    let med = |s: &Samples| s.quantile_us(0.5);
    println!();
    println!(
        "shard get / floor get (LRS):   {:.2}x  (target <= 1.3)",
        med(&s.get) / med(&f.get)
    );
    println!(
        "shard set / floor set (LRS):   {:.2}x  (target <= 1.3)",
        med(&s.set) / med(&f.set)
    );
    println!(
        "  same, new keys:              {:.2}x",
        med(&s.insert) / med(&f.insert)
    );
    println!(
        "LRU get / LRS get:             {:.2}x  (target <= 1.5)",
        med(&u.get) / med(&s.get)
    );
    Ok(())
}
