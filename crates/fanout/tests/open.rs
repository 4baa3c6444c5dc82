//! Opening a FanoutCache with a short per-operation timeout, from several
//! OS processes at once, while other processes write or hold a shard's
//! write lock: opening takes no write lock when nothing needs writing, and
//! waits by its own timeout when something does.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diskcache_fanout::{Error, FanoutCache};
use diskcache_shard::CacheBuilder;

const HELPER: &str = env!("CARGO_BIN_EXE_fanout-test-helper");

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn path_str(dir: &Path) -> &str {
    dir.to_str().unwrap_or_default()
}

/// Starts the helper with `args`, waiting for its first line `ready`.
fn start(args: &[&str], ready: &str) -> Res<Child> {
    let mut child = Command::new(HELPER)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line)?;
    assert_eq!(line.trim(), ready);
    Ok(child)
}

/// `n` processes opening `dir` with `timeout` at the same moment; what
/// each printed, after all have exited, and whether all succeeded.
fn open_together(dir: &Path, n: usize, timeout: Duration) -> Res<Vec<(bool, String)>> {
    let at = SystemTime::now().duration_since(UNIX_EPOCH)? + Duration::from_millis(400);
    let children: Vec<Child> = (0..n)
        .map(|_| {
            Command::new(HELPER)
                .args([
                    "open",
                    path_str(dir),
                    &timeout.as_millis().to_string(),
                    &at.as_millis().to_string(),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut results = Vec::new();
    for child in children {
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string()
            + String::from_utf8_lossy(&out.stderr).trim();
        results.push((out.status.success(), text));
    }
    Ok(results)
}

/// How long an opener said its open took.
fn open_time(printed: &str) -> Option<Duration> {
    let micros = printed.strip_prefix("opened ")?.trim().parse().ok()?;
    Some(Duration::from_micros(micros))
}

#[test]
fn processes_open_at_once_with_a_short_timeout_while_another_writes() -> Res {
    let dir = tempfile::tempdir()?;
    FanoutCache::builder()
        .shards(8)
        .open(dir.path())?
        .set("k", &1)?;
    let mut writer = start(&["write", path_str(dir.path()), "20000"], "writing")?;
    let mut failed = Vec::new();
    for _round in 0..4 {
        for (ok, printed) in open_together(dir.path(), 8, Duration::from_millis(20))? {
            if !ok {
                failed.push(printed);
            }
        }
    }
    writer.kill()?;
    writer.wait()?;
    assert!(failed.is_empty(), "opens failed: {failed:#?}");
    Ok(())
}

#[test]
fn processes_open_a_new_directory_at_once_with_a_short_timeout() -> Res {
    let dir = tempfile::tempdir()?;
    let fresh = dir.path().join("fresh");
    let results = open_together(&fresh, 8, Duration::from_millis(20))?;
    let failed: Vec<_> = results.iter().filter(|(ok, _)| !ok).collect();
    assert!(failed.is_empty(), "opens failed: {failed:#?}");
    let cache = FanoutCache::open(&fresh)?;
    assert_eq!(cache.shards().len(), 8);
    assert!(cache.check(false)?.is_clean());
    Ok(())
}

#[test]
fn opens_do_not_wait_for_a_long_transaction_when_nothing_needs_writing() -> Res {
    let dir = tempfile::tempdir()?;
    let hold = Duration::from_millis(2000);
    FanoutCache::builder()
        .shards(4)
        .cache(CacheBuilder::new().tag_index(true))
        .open(dir.path())?;
    let mut holder = start(
        &[
            "hold",
            path_str(dir.path()),
            "held-key",
            &hold.as_millis().to_string(),
        ],
        "locked",
    )?;
    let results = open_together(dir.path(), 8, Duration::from_millis(20))?;
    let still_held = holder.try_wait()?.is_none();
    assert!(holder.wait()?.success());
    for (ok, printed) in &results {
        assert!(ok, "an open failed: {printed}");
        let took = open_time(printed).ok_or("no open time")?;
        assert!(took < hold / 2, "an open took {took:?}");
    }
    assert!(still_held, "the opens waited for the transaction to end");
    Ok(())
}

#[test]
fn an_open_waits_by_its_own_timeout_when_it_must_write() -> Res {
    let dir = tempfile::tempdir()?;
    FanoutCache::builder().shards(2).open(dir.path())?;
    let mut holder = start(&["hold", path_str(dir.path()), "held-key", "600"], "locked")?;
    // A new size limit must be written into both shards, one of which is
    // locked for longer than the per-operation timeout.
    let cache = FanoutCache::builder()
        .size_limit(4 << 20)
        .cache(
            CacheBuilder::new()
                .timeout(Duration::from_millis(20))
                .open_timeout(Duration::from_secs(30)),
        )
        .open(dir.path())?;
    assert!(holder.wait()?.success());
    for shard in cache.shards() {
        assert_eq!(shard.settings().size_limit, 2 << 20);
    }
    Ok(())
}

#[test]
fn a_shard_that_fails_to_open_is_named() -> Res {
    let dir = tempfile::tempdir()?;
    FanoutCache::builder().shards(3).open(dir.path())?;
    let db = dir.path().join("002").join("cache.db");
    rusqlite::Connection::open(&db)?.execute(
        "UPDATE Settings SET value = 'lots' WHERE key = 'cull_limit'",
        [],
    )?;
    let err = FanoutCache::open(dir.path()).err().ok_or("opened")?;
    let Error::Open { path, source } = &err else {
        return Err(format!("not a shard's open error: {err:?}").into());
    };
    assert_eq!(path, &db.parent().ok_or("no parent")?.canonicalize()?);
    assert!(matches!(
        **source,
        diskcache_shard::Error::DamagedSetting { .. }
    ));
    let message = err.to_string();
    assert!(
        message.contains("002") && message.contains("cull_limit"),
        "{message}"
    );
    Ok(())
}

#[test]
fn endless_timeouts_open_and_work() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = FanoutCache::builder()
        .shards(3)
        .cache(
            CacheBuilder::new()
                .timeout(Duration::MAX)
                .open_timeout(Duration::MAX),
        )
        .open(dir.path())?;
    for i in 0..30 {
        assert!(cache.set(&i, &i)?);
    }
    assert_eq!(cache.get::<i64>(&7)?, Some(7));
    cache.transact(|| {
        cache.set("in", &1)?;
        Ok::<_, Error>(())
    })?;
    assert_eq!(cache.clear()?, 31);
    Ok(())
}
