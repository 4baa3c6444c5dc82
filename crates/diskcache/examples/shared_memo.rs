//! One slow fetch shared by three processes.
//!
//! The example starts three copies of itself on one cache directory; each
//! asks for the same report at the same moment through a
//! [`Stampede`]-protected memo. The first to ask computes it (a one-second
//! "fetch"); the other two wait for that result instead of fetching too.
//!
//! Run with `cargo run --release -p diskcache-rs --example shared_memo`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache::Cache;
use diskcache::recipes::{Memo, Stampede};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const PROCESSES: usize = 3;
const KEY: &str = "https://example.org/reports/2026-11";
/// How long the whole run may take before the children are stopped.
const DEADLINE: Duration = Duration::from_secs(30);

/// The slow call being shared: stands in for a network fetch.
fn fetch(url: &str) -> String {
    std::thread::sleep(Duration::from_secs(1));
    format!("report from {url}: 1234 orders")
}

fn seconds_since_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One child process: waits for the common start, asks for the report.
fn child(dir: &Path, start_at: f64) -> Res<()> {
    let cache = Cache::open(dir)?;
    let report = Stampede::new(Memo::new(cache.clone(), "report").expire(Duration::from_secs(600)))
        .lease(Duration::from_secs(10));
    let wait = start_at - seconds_since_epoch();
    if wait > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
    let started = Instant::now();
    let mut computed = false;
    let value: String = report.get_or_compute(&KEY, || {
        computed = true;
        fetch(KEY)
    })?;
    if computed {
        cache.incr("fetches", 1, Some(0))?;
    }
    println!(
        "process {}: got \"{value}\" in {:.2} s ({})",
        std::process::id(),
        started.elapsed().as_secs_f64(),
        if computed {
            "fetched it itself"
        } else {
            "used the other process's fetch"
        }
    );
    Ok(())
}

/// Waits for `children` until `deadline`; stops them when it passes.
fn wait_all(children: &mut [Child], deadline: Instant) -> Res<usize> {
    let mut failed = 0;
    for c in children.iter_mut() {
        loop {
            if let Some(status) = c.try_wait()? {
                if !status.success() {
                    failed += 1;
                }
                break;
            }
            if Instant::now() >= deadline {
                c.kill()?;
                c.wait()?;
                failed += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(failed)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "child" {
        return child(&PathBuf::from(&args[2]), args[3].parse()?);
    }

    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("cache");
    let cache = Cache::open(&dir)?;
    println!("{PROCESSES} processes ask for the same slow report (1 s to fetch) at once");

    let started = Instant::now();
    // A common start a little ahead, so that all three ask together.
    let start_at = seconds_since_epoch() + 0.5;
    let exe = std::env::current_exe()?;
    let mut children = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .arg("child")
                .arg(&dir)
                .arg(start_at.to_string())
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let failed = wait_all(&mut children, started + DEADLINE)?;

    let fetches = cache.get::<i64>("fetches")?.unwrap_or(0);
    println!(
        "{} processes answered in {:.2} s in all; the report was fetched {fetches} time{}",
        PROCESSES - failed,
        started.elapsed().as_secs_f64(),
        if fetches == 1 { "" } else { "s" }
    );
    drop(cache);
    tmp.close()?;
    if failed > 0 || fetches != 1 {
        return Err(format!("expected one fetch and no failures; {failed} failed").into());
    }
    Ok(())
}
