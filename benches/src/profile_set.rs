//! Runs only shard sets (or gets), for profilers: `profile-set [set|get] [ops]`.

use diskcache_bench::{Rng, key, value};
use diskcache_shard::Cache;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).cloned().unwrap_or_else(|| "set".into());
    let ops: u64 = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    for i in 0..10_000 {
        cache.set(&key(i), &value(i))?;
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
