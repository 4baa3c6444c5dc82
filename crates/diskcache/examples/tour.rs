//! The main job: a tour of the library on a temporary directory, saying
//! what it did at each step, in this order: a `Cache`, a `FanoutCache`, a
//! `Deque`, an `Index`, a `WorkQueue` and the `Memo` recipe. The directory
//! is removed at the end.
//!
//! Run with `cargo run --release -p diskcache-rs --example tour`.

use std::time::{Duration, Instant};

use diskcache::recipes::Memo;
use diskcache::{
    Cache, CacheBuilder, Deque, EvictionPolicy, FanoutCache, Index, SetOptions, WorkQueue,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct User {
    name: String,
    languages: Vec<String>,
}

/// A duration as a person reads it.
fn took(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 10_000_000 {
        format!("{:.1} ms", us as f64 / 1_000.0)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn section(title: &str) {
    println!("\n== {title}");
}

/// A slow computation, standing in for a network fetch or a query.
fn slow_word_count(text: &str) -> usize {
    std::thread::sleep(Duration::from_millis(300));
    text.split_whitespace().count()
}

fn main() -> diskcache::Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| diskcache::Error::io("temporary directory", e))?;
    let root = tmp.path().to_path_buf();
    println!("working in a temporary directory: {}", root.display());

    section("Cache: one directory, one SQLite index plus files for large values");
    let cache = Cache::builder()
        .size_limit(16 << 20)
        .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
        .statistics(true)
        .open(root.join("cache"))?;
    cache.set("greeting", "hello")?;
    let user = User {
        name: "Ada".into(),
        languages: vec!["English".into(), "French".into()],
    };
    cache.set(&("user", 42), &user)?;
    let greeting: Option<String> = cache.get("greeting")?;
    println!(
        "\"greeting\" holds {:?}",
        greeting.as_deref().unwrap_or("nothing")
    );
    if let Some(u) = cache.get::<User>(&("user", 42))? {
        println!(
            "user 42 is {}, who speaks {}",
            u.name,
            u.languages.join(" and ")
        );
    }
    cache.set_with(
        "session",
        "token-123",
        &SetOptions::new().expire(Duration::from_millis(200)),
    )?;
    println!(
        "a session that expires in 200 ms: present now? {}",
        cache.contains("session")?
    );
    std::thread::sleep(Duration::from_millis(250));
    println!("after 250 ms: present? {}", cache.contains("session")?);
    let started = Instant::now();
    for _ in 0..1000 {
        cache.incr("visits", 1, Some(0))?;
    }
    println!(
        "1000 increments of \"visits\" took {}; it now reads {}",
        took(started.elapsed()),
        cache.get::<i64>("visits")?.unwrap_or(0)
    );
    let _ = cache.get::<String>("no such key")?;
    let stats = cache.stats()?;
    println!(
        "{} entries, {} reads found their key, {} did not",
        cache.len()?,
        stats.hits,
        stats.misses
    );

    section("FanoutCache: keys spread over shards, so writers rarely wait for each other");
    let fanout = FanoutCache::builder()
        .shards(4)
        .cache(CacheBuilder::new().timeout(Duration::from_millis(100)))
        .open(root.join("fanout"))?;
    let started = Instant::now();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let fanout = fanout.clone();
            std::thread::spawn(move || -> diskcache::Result<u32> {
                let mut stored = 0;
                for i in 0..500 {
                    if fanout.set(&format!("page-{w}-{i}"), &format!("<p>page {i}</p>"))? {
                        stored += 1;
                    }
                }
                Ok(stored)
            })
        })
        .collect();
    let mut stored = 0;
    for writer in writers {
        stored += writer.join().expect("writer thread panicked")?;
    }
    println!(
        "2 threads stored {stored} of 1000 pages in {} (a busy shard would say \"not stored\" after 100 ms)",
        took(started.elapsed())
    );
    let per_shard: Vec<String> = fanout
        .shards()
        .iter()
        .map(|s| s.len().map(|n| n.to_string()))
        .collect::<diskcache::Result<_>>()?;
    println!(
        "{} pages in all; per shard: {}",
        fanout.len()?,
        per_shard.join(", ")
    );
    let page: Option<String> = fanout.get("page-1-7")?;
    println!("page-1-7 reads {}", page.unwrap_or_default());

    section("Deque: a persistent double-ended queue");
    let tasks: Deque<String> = Deque::open(root.join("deque"))?;
    for t in ["fetch", "parse", "store"] {
        tasks.append(&t.to_string())?;
    }
    tasks.append_left(&"urgent: renew certificate".to_string())?;
    println!("{} tasks queued", tasks.len()?);
    while let Some(t) = tasks.pop_left()? {
        println!("  took \"{t}\" from the front");
    }
    println!("{} left", tasks.len()?);

    section("Index: a persistent map that keeps insertion order and never evicts");
    let prices: Index<String, u32> = Index::open(root.join("index"))?;
    for (fruit, cents) in [("cherry", 450), ("apple", 120), ("banana", 80)] {
        prices.insert(&fruit.to_string(), &cents)?;
    }
    prices.insert(&"apple".to_string(), &135)?; // keeps its place
    let mut listed = Vec::new();
    for item in prices.items() {
        let (fruit, cents) = item?;
        listed.push(format!("{fruit} ${}.{:02}", cents / 100, cents % 100));
    }
    println!("in insertion order: {}", listed.join(", "));
    if let Some((fruit, _)) = prices.popitem(true)? {
        println!("removed the newest, {fruit}; {} left", prices.len()?);
    }

    section("WorkQueue: jobs are leased, and come back if a consumer never finishes");
    let queue: WorkQueue<String> = WorkQueue::new(Cache::open(root.join("work"))?, "emails");
    for to in ["ada", "grace", "linus"] {
        queue.push(&format!("welcome {to}"))?;
    }
    let lease = Duration::from_millis(200);
    let first = queue.reserve(lease)?.expect("a job is ready");
    println!(
        "a consumer took job {} (\"{}\") and then stalled without finishing it",
        first.id, first.payload
    );
    let mut done = 0;
    while let Some(job) = queue.reserve(lease)? {
        queue.ack(&job)?;
        done += 1;
        println!(
            "  another consumer did job {} (\"{}\")",
            job.id, job.payload
        );
    }
    std::thread::sleep(lease + Duration::from_millis(50));
    if let Some(job) = queue.reserve(lease)? {
        println!(
            "after its 200 ms lease ran out, job {} came back (attempt {})",
            job.id, job.attempt
        );
        queue.ack(&job)?;
        done += 1;
    }
    println!(
        "the stalled consumer's late acknowledgement was accepted? {}",
        queue.ack(&first)?
    );
    println!(
        "{done} jobs done, each once; waiting now: {}",
        if queue.reserve(lease)?.is_none() {
            "none"
        } else {
            "some"
        }
    );

    section("Memo: a slow call computed once, then answered from the cache");
    let counts = Memo::new(cache.clone(), "word-count").expire(Duration::from_secs(3600));
    let text = "the quick brown fox jumps over the lazy dog";
    for attempt in 1..=3 {
        let started = Instant::now();
        let n: usize = counts.get_or_compute(&text, || slow_word_count(text))?;
        println!("call {attempt}: {n} words in {}", took(started.elapsed()));
    }
    // Another handle, even in another process, finds the same result.
    let again = Memo::new(Cache::open(root.join("cache"))?, "word-count");
    let started = Instant::now();
    let n: usize = again.get_or_compute(&text, || slow_word_count(text))?;
    println!(
        "a second handle on the same directory: {n} words in {}",
        took(started.elapsed())
    );

    section("Done");
    drop((cache, fanout, tasks, prices, queue, counts, again));
    tmp.close().map_err(|e| diskcache::Error::io(&root, e))?;
    println!(
        "removed the temporary directory (still there? {})",
        root.exists()
    );
    Ok(())
}
