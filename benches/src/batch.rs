//! Batched calls against one call per key: `batch [rounds]`.
//!
//! Each round times 100 sets made one by one and 100 sets made by one
//! `set_many`, alternately, on a single cache and on a fanout cache of 8
//! shards; then the same for gets (`get` against `get_many`) and deletes.
//! Prints the median time per 100 keys of each and the throughput ratio.
//! Keys are drawn from `[keys]` keys (default 10,000): the fewer, the more
//! of a batch's keys share the database pages its commit writes.

use std::time::Instant;

use diskcache_bench::{Rng, key, value};
use diskcache_fanout::FanoutCache;
use diskcache_shard::{Cache, SetOptions};

const BATCH: u64 = 100;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Times `f` once, in µs.
fn time(
    f: impl FnOnce() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed().as_secs_f64() * 1e6)
}

type Res = Result<(), Box<dyn std::error::Error>>;

/// One way of making calls for a list of keys.
type Calls<'a> = Box<dyn Fn(&[u64]) -> Res + 'a>;

/// The two ways of doing one kind of call on one kind of cache.
struct Pair<'a> {
    name: &'a str,
    one_by_one: Calls<'a>,
    batched: Calls<'a>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200);
    let space: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let shard = Cache::open(dir.path().join("shard"))?;
    let fanout = FanoutCache::builder()
        .shards(8)
        .open(dir.path().join("fanout"))?;
    let opts = SetOptions::new();
    let pairs = vec![
        Pair {
            name: "cache set",
            one_by_one: Box::new(|ks| {
                ks.iter()
                    .try_for_each(|&i| Ok(shard.set(&key(i), &value(i))?))
            }),
            batched: Box::new(|ks| {
                shard.set_many(ks.iter().map(|&i| (key(i), value(i))), &opts)?;
                Ok(())
            }),
        },
        Pair {
            name: "cache get",
            one_by_one: Box::new(|ks| {
                ks.iter().try_for_each(|&i| {
                    std::hint::black_box(shard.get::<Vec<u8>>(&key(i))?);
                    Ok(())
                })
            }),
            batched: Box::new(|ks| {
                std::hint::black_box(shard.get_many::<_, Vec<u8>>(ks.iter().map(|&i| key(i)))?);
                Ok(())
            }),
        },
        Pair {
            name: "cache delete",
            one_by_one: Box::new(|ks| {
                ks.iter().try_for_each(|&i| {
                    let _ = shard.delete(&key(i))?;
                    Ok(())
                })
            }),
            batched: Box::new(|ks| {
                let _ = shard.delete_many(ks.iter().map(|&i| key(i)))?;
                Ok(())
            }),
        },
        Pair {
            name: "fanout(8) set",
            one_by_one: Box::new(|ks| {
                ks.iter().try_for_each(|&i| {
                    let _ = fanout.set(&key(i), &value(i))?;
                    Ok(())
                })
            }),
            batched: Box::new(|ks| {
                fanout.set_many(ks.iter().map(|&i| (key(i), value(i))), &opts)?;
                Ok(())
            }),
        },
    ];
    println!(
        "{BATCH} keys per call over {space} keys, {rounds} rounds; median µs per {BATCH} keys"
    );
    println!(
        "{:<16} {:>12} {:>12} {:>8}",
        "call", "one by one", "batched", "ratio"
    );
    let mut rng = Rng::new(3);
    for pair in &pairs {
        let (mut one, mut many) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let keys: Vec<u64> = (0..BATCH).map(|_| rng.below(space)).collect();
            one.push(time(|| (pair.one_by_one)(&keys))?);
            let keys: Vec<u64> = (0..BATCH).map(|_| rng.below(space)).collect();
            many.push(time(|| (pair.batched)(&keys))?);
        }
        let (one, many) = (median(one), median(many));
        println!(
            "{:<16} {:>12.1} {:>12.1} {:>7.2}x",
            pair.name,
            one,
            many,
            one / many
        );
    }
    Ok(())
}
