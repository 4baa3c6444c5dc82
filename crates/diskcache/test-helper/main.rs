//! Helper process for the facade's multi-process tests:
//! `diskcache-test-helper append <dir> <id> <n>` appends `<id>-<i>` to the
//! deque `jobs` of the fanout cache in `dir`.

use diskcache::{Deque, FanoutCache, Named};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).cloned().ok_or("missing argument");
    let cache = FanoutCache::open(arg(2)?)?;
    match arg(1)?.as_str() {
        "append" => {
            let jobs: Deque<String> = cache.deque("jobs")?;
            let id = arg(3)?;
            let n: u32 = arg(4)?.parse()?;
            for i in 0..n {
                jobs.append(&format!("{id}-{i}"))?;
            }
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
