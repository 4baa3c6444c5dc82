//! FanoutCache against a single Shard: get latency in one process, and set
//! latency and throughput with several writer processes at once.
//!
//! Usage: `contention [ops-per-worker] [workers]` (defaults 20000 and 2).
//! Workers are separate OS processes (this binary run again with
//! `worker …`) that start together at an agreed instant and write short
//! values under keys drawn from a shared key space. A third run gives each
//! writer a shard of its own, so nothing at all is shared: what two SQLite
//! writers on this machine manage side by side, the yardstick for the
//! fanout cache's throughput. (Each of those writers is alone on its log, so
//! it checkpoints inline; that can make it slower than the fanout cache.)
//! A fourth run repeats the single shard while a reader holds one read
//! transaction open throughout, so that no checkpoint can pass its snapshot:
//! the writers must not stall on the cache's attempts to restart the log.
//! Then the first three runs are repeated on caches created with 1 KiB
//! pages instead of 4 KiB (`CacheBuilder::sqlite_page_size`), the first two
//! with 2 KiB pages, and the first three with `Synchronous::Off` (no fsync
//! at all, so the disk sets no limit: what is left is the cost of writers
//! sharing a database).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache_bench::{Res, Rng, Samples, System, key, value};

const KEYS: u64 = 10_000;

/// Sets `key`, treating "not stored" (a fanout shard that stayed locked)
/// as a failure of the run.
fn set(target: &System, k: &[u8], v: &[u8]) -> Res<()> {
    if target.set(k, v)? {
        Ok(())
    } else {
        Err("not stored".into())
    }
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// A worker: waits for the start instant, then times `ops` sets and prints
/// its elapsed time and every latency (ns), one per line.
fn worker(args: &[String]) -> Res<()> {
    let [kind, dir, ops, id, start] = args else {
        return Err("worker <system> <dir> <ops> <id> <start-ms>".into());
    };
    // "own-shard": each worker on a shard of its own, no sharing at all.
    let target = if let Some(page) = kind.strip_prefix("own-shard") {
        System::open(&format!("shard{page}"), &Path::new(dir).join(id))?
    } else {
        System::open(kind, Path::new(dir))?
    };
    let ops: u64 = ops.parse()?;
    let start: u128 = start.parse()?;
    while epoch_ms() < start {
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut rng = Rng::new(id.parse::<u64>()? + 11);
    let mut samples = Samples::default();
    let began = Instant::now();
    for _ in 0..ops {
        let i = rng.below(KEYS);
        samples.time(|| set(&target, &key(i), &value(i)))?;
    }
    let elapsed = began.elapsed();
    let mut out = String::with_capacity(samples.0.len() * 8);
    out.push_str(&format!("{}\n", elapsed.as_nanos()));
    for ns in &samples.0 {
        out.push_str(&format!("{ns}\n"));
    }
    print!("{out}");
    Ok(())
}

/// Runs `workers` writer processes on a fresh `kind` cache; returns the
/// pooled latencies and the throughput in sets per second.
fn contend(kind: &str, ops: u64, workers: u64) -> Res<(Samples, f64)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    // "held-snapshot": the workers write one shard while a reader holds a
    // read transaction open for the whole run (a slow reader, as a long
    // iteration would be), so that no checkpoint can pass its snapshot.
    let (kind, reader) = match kind {
        "held-snapshot" => ("shard", true),
        other => (other, false),
    };
    if !kind.starts_with("own-shard") {
        drop(System::open(kind, dir.path())?); // create it before the workers race
    }
    let held = if reader {
        let conn = rusqlite::Connection::open(dir.path().join("cache.db"))?;
        conn.execute_batch("BEGIN")?;
        conn.query_row("SELECT count(*) FROM Cache", [], |r| r.get::<_, i64>(0))?;
        Some(conn)
    } else {
        None
    };
    let exe = std::env::current_exe()?;
    let start = (epoch_ms() + 300).to_string();
    let children: Vec<_> = (0..workers)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "worker",
                    kind,
                    &path,
                    &ops.to_string(),
                    &id.to_string(),
                    &start,
                ])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut all = Samples::default();
    let mut slowest = 0u64;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!(
                "{kind} worker failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let text = String::from_utf8(out.stdout)?;
        let mut lines = text.lines();
        slowest = slowest.max(lines.next().ok_or("no output")?.parse()?);
        for line in lines {
            all.0.push(line.parse()?);
        }
    }
    if let Some(conn) = held {
        conn.execute_batch("COMMIT")?;
    }
    let throughput = (ops * workers) as f64 / (slowest as f64 / 1e9);
    Ok((all, throughput))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        return worker(&args[2..]);
    }
    let ops: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let workers: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2);

    // Gets in one process, interleaved rounds.
    let dir = tempfile::tempdir()?;
    let shard = System::open("shard", &dir.path().join("s"))?;
    let fanout = System::open("fanout8", &dir.path().join("f"))?;
    for i in 0..KEYS {
        set(&shard, &key(i), &value(i))?;
        set(&fanout, &key(i), &value(i))?;
    }
    let (mut sg, mut fg) = (Samples::default(), Samples::default());
    for round in 0..5 {
        for (target, samples) in [(&shard, &mut sg), (&fanout, &mut fg)] {
            let mut rng = Rng::new(round + 1);
            for _ in 0..ops {
                let i = rng.below(KEYS);
                let got = samples.time(|| target.get(&key(i)))?;
                if got.is_none() {
                    return Err("a stored key was missing".into());
                }
            }
        }
    }
    println!(
        "1 process, {} gets each (µs)      median    p90    p99",
        ops * 5
    );
    for (name, s) in [("shard get", &sg), ("fanout(8) get", &fg)] {
        let (m, p90, p99) = s.summary();
        println!("{name:<34} {m:>6.2} {p90:>6.2} {p99:>6.2}");
    }
    println!(
        "fanout get / shard get: {:.2}x (target <= 1.2)",
        fg.quantile_us(0.5) / sg.quantile_us(0.5)
    );

    println!();
    println!(
        "{workers} writer processes x {ops} sets (µs)   median    p90    p99     max   sets/s"
    );
    let mut throughput = std::collections::HashMap::new();
    for (kind, name) in [
        ("shard", "shard set"),
        ("fanout8", "fanout(8) set"),
        ("own-shard", "a shard per writer set (no sharing)"),
        ("held-snapshot", "shard set, a reader holding a snapshot"),
        ("shard@1024", "shard set, 1 KiB pages"),
        ("fanout8@1024", "fanout(8) set, 1 KiB pages"),
        ("own-shard@1024", "a shard per writer, 1 KiB pages"),
        ("shard@2048", "shard set, 2 KiB pages"),
        ("fanout8@2048", "fanout(8) set, 2 KiB pages"),
        ("shard-nosync", "shard set, no fsync"),
        ("fanout8-nosync", "fanout(8) set, no fsync"),
        ("own-shard-nosync", "a shard per writer, no fsync"),
    ] {
        let (s, tput) = contend(kind, ops, workers)?;
        let (m, p90, p99) = s.summary();
        let max = s.quantile_us(1.0);
        println!("{name:<37} {m:>6.1} {p90:>6.1} {p99:>6.1} {max:>7.0} {tput:>8.0}");
        if std::env::var_os("CONTENTION_TAIL").is_some() {
            let tail: Vec<String> = [0.95, 0.97, 0.98, 0.99, 0.995, 0.999]
                .iter()
                .map(|q| format!("p{}={:.0}", q * 100.0, s.quantile_us(*q)))
                .collect();
            let worst =
                s.0.iter()
                    .enumerate()
                    .max_by_key(|(_, ns)| **ns)
                    .map(|(i, _)| i)
                    .unwrap_or(0);
            println!(
                "    tail (µs): {} (max at set {} of {} per worker)",
                tail.join(" "),
                worst as u64 % ops,
                ops
            );
        }
        throughput.insert(kind, tput);
    }
    let ratio = |a: &str, b: &str| throughput[a] / throughput[b];
    println!(
        "fanout(8) set throughput / shard: {:.2}x (target >= 1.6); a shard per writer / shard: {:.2}x",
        ratio("fanout8", "shard"),
        ratio("own-shard", "shard")
    );
    println!(
        "with 1 KiB pages: fanout(8) / shard {:.2}x, a shard per writer / shard {:.2}x; \
         shard 1 KiB / 4 KiB pages {:.2}x, fanout(8) {:.2}x",
        ratio("fanout8@1024", "shard@1024"),
        ratio("own-shard@1024", "shard@1024"),
        ratio("shard@1024", "shard"),
        ratio("fanout8@1024", "fanout8")
    );
    println!(
        "with 2 KiB pages: fanout(8) / shard {:.2}x; shard 2 KiB / 4 KiB pages {:.2}x, fanout(8) {:.2}x",
        ratio("fanout8@2048", "shard@2048"),
        ratio("shard@2048", "shard"),
        ratio("fanout8@2048", "fanout8")
    );
    println!(
        "with no fsync: fanout(8) / shard {:.2}x, a shard per writer / shard {:.2}x, \
         a shard per writer / fanout(8) {:.2}x",
        ratio("fanout8-nosync", "shard-nosync"),
        ratio("own-shard-nosync", "shard-nosync"),
        ratio("own-shard-nosync", "fanout8-nosync")
    );
    Ok(())
}
