//! Opening while another process holds the write lock: an open with
//! nothing to write does not wait for it; one that must write waits by
//! the open timeout, not by the per-operation one.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diskcache_shard::{Cache, Error};

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Another process holding `dir`'s write lock for `hold`.
fn hold(dir: &std::path::Path, hold: Duration) -> Res<Child> {
    let mut child = Command::new(HELPER)
        .args([
            "hold",
            dir.to_str().unwrap_or_default(),
            &hold.as_millis().to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line)?;
    assert_eq!(line.trim(), "locked");
    Ok(child)
}

#[test]
fn an_open_with_nothing_to_write_does_not_wait_for_a_writer() -> Res {
    let dir = tempfile::tempdir()?;
    Cache::builder()
        .tag_index(true)
        .statistics(true)
        .open(dir.path())?
        .set("k", &1)?;
    let held = Duration::from_millis(1500);
    let mut holder = hold(dir.path(), held)?;
    let started = Instant::now();
    let cache = Cache::builder()
        .timeout(Duration::from_millis(20))
        .open(dir.path())?;
    // The settings as stored, read without the lock.
    assert!(cache.settings().tag_index && cache.settings().statistics);
    let same = Cache::builder()
        .timeout(Duration::from_millis(20))
        .tag_index(true)
        .size_limit(1 << 30)
        .open(dir.path())?;
    let took = started.elapsed();
    assert_eq!(cache.get::<i64>("k")?, Some(1));
    assert_eq!(same.get::<i64>("k")?, Some(1));
    assert!(took < held / 2, "the opens took {took:?}");
    assert!(holder.try_wait()?.is_none(), "the opens outlasted the hold");
    assert!(holder.wait()?.success());
    Ok(())
}

#[test]
fn an_open_that_must_write_waits_by_the_open_timeout() -> Res {
    let dir = tempfile::tempdir()?;
    Cache::open(dir.path())?;
    let mut holder = hold(dir.path(), Duration::from_millis(600))?;
    let started = Instant::now();
    let cache = Cache::builder()
        .timeout(Duration::from_millis(20))
        .open_timeout(Duration::from_secs(30))
        .size_limit(12345)
        .open(dir.path())?;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "did not wait: {took:?}");
    assert_eq!(cache.settings().size_limit, 12345);
    // The holder committed before the open wrote.
    assert_eq!(cache.get::<i64>("holder")?, Some(1));
    assert!(holder.wait()?.success());
    drop(cache);
    assert_eq!(Cache::open(dir.path())?.settings().size_limit, 12345);
    Ok(())
}

#[test]
fn an_open_that_must_write_gives_up_after_the_open_timeout() -> Res {
    let dir = tempfile::tempdir()?;
    Cache::open(dir.path())?;
    let mut holder = hold(dir.path(), Duration::from_millis(2500))?;
    let started = Instant::now();
    let err = Cache::builder()
        .timeout(Duration::from_secs(60))
        .open_timeout(Duration::from_millis(300))
        .cull_limit(3)
        .open(dir.path())
        .err()
        .ok_or("opened while locked")?;
    let took = started.elapsed();
    assert!(holder.try_wait()?.is_none(), "waited for the whole hold");
    assert!(
        took >= Duration::from_millis(300),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_millis(2000), "waited {took:?}");
    assert!(err.is_timeout(), "{err:?}");
    let Error::Open { path, source } = &err else {
        return Err(format!("not an open error: {err:?}").into());
    };
    assert_eq!(path, &dir.path().canonicalize()?);
    assert!(matches!(**source, Error::Timeout { .. }));
    let source = std::error::Error::source(&err).ok_or("no source")?;
    assert!(source.to_string().contains("locked"), "{source}");
    assert!(err.to_string().contains(&path.display().to_string()));
    assert!(holder.wait()?.success());
    Ok(())
}

#[test]
fn endless_timeouts_open_and_work() -> Res {
    let dir = tempfile::tempdir()?;
    let endless = || {
        Cache::builder()
            .timeout(Duration::MAX)
            .open_timeout(Duration::MAX)
    };
    let cache = endless().open(dir.path().join("new"))?;
    cache.set("a", &1)?;
    assert_eq!(cache.get::<i64>("a")?, Some(1));
    cache.transact(|| cache.set("b", &2))?;
    // Several threads at once, so that connections come from the pool.
    std::thread::scope(|s| {
        for t in 0..4 {
            let cache = &cache;
            s.spawn(move || cache.set(&t, &t));
        }
    });
    assert_eq!(cache.len()?, 6);
    assert_eq!(cache.clear()?, 6);

    // An open that waits for a writer, and an operation that does.
    Cache::open(dir.path())?;
    let mut holder = hold(dir.path(), Duration::from_millis(300))?;
    let other = endless().size_limit(1 << 20).open(dir.path())?;
    assert_eq!(other.settings().size_limit, 1 << 20);
    assert!(holder.wait()?.success());
    let mut holder = hold(dir.path(), Duration::from_millis(300))?;
    other.set("after", &3)?;
    assert!(holder.wait()?.success());
    Ok(())
}
