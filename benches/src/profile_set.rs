//! Runs only shard sets (or gets), for profilers:
//! `profile-set [--no-memo] [set|get] [ops]`. Before the sets every key is
//! read once, so that the read memo (unless off) holds them all.

use diskcache_bench::{Rng, cache_builder, key, value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all: Vec<String> = std::env::args().collect();
    let builder = cache_builder(&all);
    let args: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
    let what = args.get(1).map_or("set", |s| s.as_str());
    let ops: u64 = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let cache = builder.open(dir.path())?;
    for i in 0..10_000 {
        cache.set(&key(i), &value(i))?;
    }
    for i in 0..10_000 {
        std::hint::black_box(cache.get::<Vec<u8>>(&key(i))?);
    }
    let mut rng = Rng::new(7);
    for _ in 0..ops {
        let i = rng.below(20_000);
        if what == "set" {
            cache.set(&key(i), &value(i))?;
        } else {
            std::hint::black_box(cache.get::<Vec<u8>>(&key(i % 10_000))?);
        }
    }
    Ok(())
}
