//! criterion micro-benchmarks of the hot paths of one cache:
//! `cargo bench -p diskcache-bench --bench hot_paths`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use diskcache_bench::{Rng, key, value};
use diskcache_shard::Cache;

const KEYS: u64 = 10_000;

fn hot_paths(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cache = Cache::open(dir.path()).expect("cache");
    for i in 0..KEYS {
        cache.set(&key(i), &value(i)).expect("fill");
    }
    let mut rng = Rng::new(1);
    c.bench_function("get hit", |b| {
        b.iter(|| black_box(cache.get::<Vec<u8>>(&key(rng.below(KEYS))).expect("get")))
    });
    c.bench_function("get miss", |b| {
        b.iter(|| {
            black_box(
                cache
                    .get::<Vec<u8>>(&key(KEYS + rng.below(KEYS)))
                    .expect("get"),
            )
        })
    });
    c.bench_function("set overwrite", |b| {
        b.iter(|| {
            let i = rng.below(KEYS);
            cache.set(&key(i), &value(i)).expect("set")
        })
    });
    let mut fresh = 1_000_000u64;
    c.bench_function("set new", |b| {
        b.iter(|| {
            fresh += 1;
            cache.set(&key(fresh), &value(fresh)).expect("set")
        })
    });
    let mut doomed = 1_000_000u64;
    c.bench_function("delete", |b| {
        b.iter(|| {
            // Deletes the keys "set new" stored, then misses.
            doomed += 1;
            black_box(cache.delete(&key(doomed)).expect("delete"))
        })
    });
    c.bench_function("incr", |b| {
        b.iter(|| black_box(cache.incr("counter", 1, Some(0)).expect("incr")))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = hot_paths
}
criterion_main!(benches);
