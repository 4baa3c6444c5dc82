//! The engine on its own: uses one cache end to end on a temporary
//! directory and says what it did at each step. The facade's tour
//! (`cargo run --release -p diskcache-rs --example tour`) shows the rest.
//!
//! Run with `cargo run --release -p diskcache-shard --example engine_tour`.

use std::time::{Duration, Instant};

use diskcache_shard::{Cache, EvictionPolicy, Key, SetOptions, Side};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Page {
    url: String,
    status: u16,
    links: Vec<String>,
}

/// A key as a person reads it: text as is, numbers as numbers.
fn show(key: &Key) -> String {
    match key {
        Key::Text(s) => s.clone(),
        Key::Int(n) => n.to_string(),
        Key::Real(x) => x.to_string(),
        Key::Bytes(b) => format!("{} bytes", b.len()),
        _ => "a structured key".to_string(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder()
        .size_limit(8 << 20)
        .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
        .statistics(true)
        .open(dir.path())?;
    println!("opened a cache in {}", cache.directory().display());

    // Native values and a typed value through MessagePack.
    cache.set("greeting", "hello from Rust")?;
    cache.set(&42, &3.5)?;
    let page = Page {
        url: "https://example.org/".into(),
        status: 200,
        links: vec!["/a".into(), "/b".into()],
    };
    cache.set(&("page", page.url.as_str()), &page)?;
    let back: Option<Page> = cache.get(&("page", "https://example.org/"))?;
    match back {
        Some(p) => println!(
            "stored and read back a struct: {} (status {}, {} links)",
            p.url,
            p.status,
            p.links.len()
        ),
        None => println!("the struct was not found"),
    }

    // Expiry and tags.
    let opts = SetOptions::new()
        .expire(Duration::from_millis(200))
        .tag("session");
    cache.set_with("token", "abc123", &opts)?;
    println!("token present: {}", cache.contains("token")?);
    std::thread::sleep(Duration::from_millis(250));
    let after = cache.get::<String>("token")?;
    println!(
        "token after its 200 ms expiry: {}",
        after.map_or("gone".to_string(), |t| format!("still there ({t})"))
    );

    // Counters, atomically from several threads.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || -> diskcache_shard::Result<()> {
                for _ in 0..250 {
                    cache.incr("hits", 1, Some(0))?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "thread panicked")??;
    }
    println!(
        "4 threads x 250 increments = {}",
        cache.get::<i64>("hits")?.unwrap_or(0)
    );

    // A queue.
    for job in ["crawl", "index", "report"] {
        cache.push(&job, Some("jobs"), Side::Back)?;
    }
    while let Some((key, job)) = cache.pull::<String>(Some("jobs"), Side::Front)? {
        println!("pulled {job} (queue key {})", show(&key));
    }

    // A large value: streamed into a file, read back zero-copy.
    let blob = vec![7u8; 4 << 20];
    cache.set_reader("blob", &mut blob.as_slice(), &SetOptions::new())?;
    let mapped = cache.read("blob")?.ok_or("blob missing")?;
    println!(
        "4 MiB value read back, memory-mapped: {}, bytes equal: {}",
        mapped.is_mapped(),
        *mapped == blob[..]
    );
    drop(mapped);

    // A transaction.
    cache.transact(|| {
        cache.set("a", &1)?;
        cache.set("b", &2)?;
        Ok::<_, diskcache_shard::Error>(())
    })?;

    // Eviction keeps the volume near the 8 MiB limit.
    let started = Instant::now();
    for i in 0..2000u32 {
        cache.set(&format!("filler-{i}"), &vec![1u8; 16 << 10])?;
    }
    println!(
        "wrote 2000 x 16 KiB in {} ms; volume now {:.1} MiB (limit 8 MiB), {} entries",
        started.elapsed().as_millis(),
        cache.volume()? as f64 / (1 << 20) as f64,
        cache.len()?
    );

    let stats = cache.stats()?;
    println!("hits {}, misses {}", stats.hits, stats.misses);
    let report = cache.check(false)?;
    println!(
        "check: {}",
        if report.is_clean() {
            "clean".to_string()
        } else {
            format!("{report:?}")
        }
    );
    println!("cleared {} entries", cache.clear()?);
    Ok(())
}
