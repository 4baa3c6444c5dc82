//! The on-disk format against the real python-diskcache 5.6 from PyPI:
//! a directory written here is read by Python, and the reverse, for a
//! single cache and for a FanoutCache (python's shard placement); and a
//! Python process and this one writing one cache at the same time (exact
//! counter, every key, both checks clean); and python's writes seen at once
//! by a handle whose read memo holds the old values (python-diskcache
//! records nothing in the commit feed).
//!
//! Needs `python3`; the test makes a virtual environment in Cargo's target
//! directory and installs diskcache into it. Without `python3` it is
//! skipped with a message; any other failure (pip included) fails it.

use std::process::Command;
use std::time::{Duration, SystemTime};

use diskcache::{Cache, Error, FanoutCache, Key, SetOptions, ShardHash, Side};

type TestResult = Result<(), Box<dyn std::error::Error>>;

mod interop;

use interop::{SCRIPT, python, run_python};

fn big_bytes() -> Vec<u8> {
    (0..=255u8).cycle().take(256 * 4096).collect()
}

fn big_text() -> String {
    "ab€".repeat(20000)
}

#[test]
fn rust_reads_what_python_wrote() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    run_python(&py, "write", dir.path())?;

    let cache = Cache::open(dir.path())?;
    assert_eq!(
        cache.get::<Vec<u8>>(b"bytes-key".as_slice())?,
        Some(vec![0, 1, 255])
    );
    assert_eq!(
        cache.get::<String>("text-key")?.as_deref(),
        Some("héllo wörld")
    );
    assert_eq!(cache.get::<i64>(&42)?, Some(1_234_567_890_123));
    assert_eq!(cache.get::<f64>(&1.5)?, Some(2.25));
    assert_eq!(cache.get::<f64>(&-7)?, Some(-0.125));
    assert_eq!(cache.get::<Vec<u8>>("big-bytes")?, Some(big_bytes()));
    assert!(cache.read("big-bytes")?.ok_or("missing")?.is_mapped());
    assert_eq!(cache.get::<String>("big-text")?, Some(big_text()));
    let entry = cache.get_entry::<String>("tagged")?.ok_or("missing")?;
    assert_eq!(entry.value, "v");
    assert_eq!(entry.tag, Some(Key::Text("grp".into())));
    let expires = entry.expire_time.ok_or("no expiry")?;
    assert!(expires > SystemTime::now() + Duration::from_secs(3000));
    assert_eq!(cache.get::<i64>("expired")?, None);
    assert!(matches!(
        cache.get::<Vec<u8>>("pickled"),
        Err(Error::Pickled)
    ));
    assert_eq!(
        cache.pull::<String>(Some("jobs"), Side::Front)?,
        Some((Key::Text("jobs-500000000000000".into()), "q1".into()))
    );
    let report = cache.check(false)?;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(cache.evict("grp")?, 1);
    Ok(())
}

#[test]
fn python_reads_what_rust_wrote() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    {
        let cache = Cache::open(dir.path())?;
        cache.set(b"bytes-key".as_slice(), b"\x00\x01\xff".as_slice())?;
        cache.set("text-key", "héllo wörld")?;
        cache.set(&42, &1_234_567_890_123i64)?;
        cache.set(&1.5, &2.25)?;
        cache.set(&-7, &-0.125)?;
        cache.set("big-bytes", &big_bytes())?;
        cache.set("big-text", &big_text())?;
        cache.set_reader(
            "streamed",
            &mut vec![b's'; 100_000].as_slice(),
            &SetOptions::new(),
        )?;
        let tagged = SetOptions::new()
            .expire(Duration::from_secs(3600))
            .tag("grp");
        cache.set_with("tagged", "v", &tagged)?;
        cache.set_with(
            "expired",
            &1,
            &SetOptions::new().expire(Duration::from_millis(1)),
        )?;
        cache.push(&"q1", Some("jobs"), Side::Back)?;
        cache.push(&"q2", Some("jobs"), Side::Back)?;
        cache.set("counter", &10)?;
        cache.set_size_limit(123_456_789)?;
        std::thread::sleep(Duration::from_millis(10));
    }
    let open = Cache::open(dir.path())?;
    run_python(&py, "read", dir.path())?;
    assert_eq!(open.settings().cull_limit, 10);
    assert_eq!(open.reload_settings()?.cull_limit, 7);

    // And what Python then wrote into our directory reads back here.
    let cache = Cache::open(dir.path())?;
    assert_eq!(cache.get::<String>("from-python")?.as_deref(), Some("ok"));
    assert_eq!(cache.get::<i64>("counter")?, Some(11));
    assert!(!cache.contains("tagged")?);
    assert!(cache.check(false)?.is_clean());
    Ok(())
}

#[test]
fn fanout_caches_share_a_directory_with_python() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    run_python(&py, "fanout-write", dir.path())?;

    // No record of ours yet: the four shard folders give the count, and
    // python's hash finds every key where python put it.
    let cache = FanoutCache::builder()
        .hash(ShardHash::Adler32)
        .open(dir.path())?;
    assert_eq!(cache.shards().len(), 4);
    assert_eq!(
        cache.get::<Vec<u8>>(b"bytes-key".as_slice())?,
        Some(vec![0, 1, 255])
    );
    assert_eq!(
        cache.get::<String>("text-key")?.as_deref(),
        Some("héllo wörld")
    );
    assert_eq!(cache.get::<i64>(&42)?, Some(1_234_567_890_123));
    assert_eq!(cache.get::<f64>(&1.5)?, Some(2.25));
    assert_eq!(cache.get::<f64>(&-7)?, Some(-0.125));
    for i in 0..100 {
        assert_eq!(cache.get::<i64>(&format!("k{i}"))?, Some(i), "k{i}");
    }
    for i in 0..100i64 {
        assert!(cache.set(&format!("rust-{i}"), &i)?);
        assert!(cache.set(&i, &format!("int {i}"))?);
    }
    assert!(cache.set("from-python", "ok")?);
    drop(cache);
    run_python(&py, "fanout-read", dir.path())?;
    Ok(())
}

#[test]
fn python_writes_are_seen_by_a_warm_read_memo() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("shared", &0_i64)?;
    cache.set("python-text", "none")?;
    cache.set("rust-only", "r")?;
    for n in 1..=4_i64 {
        // Twice each, so that the second read is answered from the memo.
        for _ in 0..2 {
            assert_eq!(cache.get::<i64>("shared")?, Some(n - 1));
            assert_eq!(cache.get::<String>("rust-only")?.as_deref(), Some("r"));
        }
        run_python(&py, "bump", dir.path())?;
        assert_eq!(cache.get::<i64>("shared")?, Some(n), "stale after bump {n}");
        let text = cache.get::<String>("python-text")?;
        assert_eq!(text, Some(format!("p{n}")));
        // A write of ours after python's: the feed's chain has a gap.
        if n % 2 == 0 {
            cache.set("rust-only", "r")?;
        }
    }
    Ok(())
}

#[test]
fn rust_and_python_write_one_cache_at_the_same_time() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    const HAMMER: i64 = 3000; // as in interop.py
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    let mut child = Command::new(&py)
        .arg(SCRIPT)
        .arg("together")
        .arg(dir.path())
        .spawn()?;
    // Start once python is writing, so that the two really overlap.
    for _ in 0..6000 {
        if cache.contains("py-0")? {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(cache.contains("py-0")?, "python never started writing");
    let mut overlapped = false;
    for i in 0..HAMMER {
        overlapped |= child.try_wait()?.is_none() && i > 0;
        cache.incr("counter", 1, Some(0))?;
        cache.set(&format!("rust-{i}"), &i)?;
    }
    assert!(child.wait()?.success(), "python's writer failed");
    assert!(overlapped, "python finished before Rust began");
    assert_eq!(cache.get::<i64>("counter")?, Some(2 * HAMMER));
    for i in 0..HAMMER {
        assert_eq!(cache.get::<i64>(&format!("py-{i}"))?, Some(i));
        assert_eq!(cache.get::<i64>(&format!("rust-{i}"))?, Some(i));
    }
    assert_eq!(cache.len()?, 2 * HAMMER as u64 + 1);
    assert!(cache.check(false)?.is_clean());
    drop(cache);
    run_python(&py, "check", dir.path())
}
