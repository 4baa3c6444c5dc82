//! The on-disk format against the real python-diskcache 5.6 from PyPI:
//! a directory written here is read by Python, and the reverse, for a
//! single cache and for a FanoutCache (python's shard placement); and a
//! Python process and this one writing one cache at the same time (exact
//! counter, every key, both checks clean); and python's writes seen at once
//! by a handle whose read memo holds the old values (python-diskcache
//! records nothing in the commit feed); and what python writes that Rust
//! does not: a FanoutCache opened with default options (python's hash),
//! size limits stored as fractional floats, `disk_min_file_size = 0`,
//! pickled keys and values, a pickled item at the head of a queue.
//!
//! Needs `python3`; the test makes a virtual environment in Cargo's target
//! directory and installs diskcache into it. Without `python3` it is
//! skipped with a message; any other failure (pip included) fails it.

use std::process::Command;
use std::time::{Duration, SystemTime};

use diskcache::{Cache, Error, FanoutCache, Index, Key, SetOptions, ShardHash, Side};

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
        Err(Error::Pickled { .. })
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

/// python's FanoutCache with its default of 8 shards: opened with default
/// options, the folders give the count and python's hash, so every key is
/// found where python put it, and a key Rust sets replaces python's row
/// instead of adding a second one in another shard.
#[test]
fn a_default_open_of_pythons_fanout_uses_pythons_hash() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    run_python(&py, "fanout8-write", dir.path())?;

    let cache = FanoutCache::open(dir.path())?;
    assert_eq!(cache.shards().len(), 8);
    assert_eq!(cache.shard_hash(), ShardHash::Adler32);
    assert_eq!(
        cache.get::<String>("text-key")?.as_deref(),
        Some("héllo wörld")
    );
    for i in 0..100 {
        assert_eq!(cache.get::<i64>(&format!("k{i}"))?, Some(i), "k{i}");
    }
    assert!(cache.set("k0", "from rust")?);
    for i in 0..40i64 {
        assert!(cache.set(&format!("rust-{i}"), &i)?);
    }
    drop(cache);
    run_python(&py, "fanout8-read", dir.path())?;

    // Recorded now: the same layout reopens, a contradicting one is refused.
    let again = FanoutCache::builder()
        .hash(ShardHash::Adler32)
        .open(dir.path())?;
    assert_eq!(again.get::<String>("k0")?.as_deref(), Some("from rust"));
    let refused = FanoutCache::builder()
        .hash(ShardHash::Xxh3)
        .open(dir.path())
        .err();
    assert!(matches!(refused, Some(Error::Layout { .. })), "{refused:?}");
    Ok(())
}

/// python's FanoutCache(shards=3) stores each shard's size limit as the
/// float 2^30 / 3; it opens, the limit is read as python compares it, and
/// opening does not rewrite it.
#[test]
fn pythons_fractional_size_limits_open() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    run_python(&py, "fanout3-write", dir.path())?;

    let cache = FanoutCache::open(dir.path())?;
    assert_eq!(cache.shards().len(), 3);
    for shard in cache.shards() {
        // python culls while volume >= 357913941.33…, i.e. from 357913942.
        assert_eq!(shard.settings().size_limit, 357_913_942);
    }
    for i in 0..60 {
        assert_eq!(cache.get::<i64>(&format!("k{i}"))?, Some(i), "k{i}");
    }
    for i in 0..30 {
        assert!(cache.set(&format!("rust-{i}"), &format!("r{i}"))?);
    }
    drop(cache);
    run_python(&py, "fanout3-read", dir.path())?;
    Ok(())
}

/// `disk_min_file_size = 0` (python: every bytes and str value in a file)
/// opens here, means the same, and can be set here too.
#[test]
fn a_min_file_size_of_zero_puts_every_bytes_and_text_value_in_a_file() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    run_python(&py, "minfile0-write", dir.path())?;

    let cache = Cache::open(dir.path())?;
    assert_eq!(cache.settings().disk_min_file_size, 0);
    assert_eq!(cache.get::<Vec<u8>>("b")?, Some(b"xy".to_vec()));
    assert_eq!(cache.get::<Vec<u8>>("empty")?, Some(Vec::new()));
    assert_eq!(cache.get::<String>("t")?.as_deref(), Some("téxt"));
    assert_eq!(cache.get::<i64>("i")?, Some(7));
    assert_eq!(cache.get::<f64>("f")?, Some(0.5));
    assert!(cache.read("b")?.ok_or("missing")?.len() == 2);
    cache.set("rust-b", b"rb".as_slice())?;
    cache.set("rust-empty", b"".as_slice())?;
    cache.set("rust-t", "ré")?;
    cache.set("rust-i", &9)?;
    assert!(cache.check(false)?.is_clean());
    drop(cache);
    run_python(&py, "minfile0-read", dir.path())?;

    // And Rust sets it on a directory of its own.
    let own = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(0).open(own.path())?;
    cache.set("v", b"x".as_slice())?;
    cache.set_min_file_size(0)?;
    assert_eq!(cache.reload_settings()?.disk_min_file_size, 0);
    Ok(())
}

/// The key a [`Error::Pickled`] names, if any.
fn pickled(err: &Error) -> Option<Key> {
    match err {
        Error::Pickled { key } => key.clone(),
        _ => None,
    }
}

/// Keys and values python pickled are `Error::Pickled` on every path that
/// would decode them, never something else; the error names the key, so a
/// pickled item at the head of a queue can be deleted and the queue goes on.
#[test]
fn pickled_keys_and_values_are_refused_with_their_key() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    run_python(&py, "pickled-write", dir.path())?;
    let cache = Cache::open(dir.path())?;

    // Keys: iteration hands them out as stored; decoding one is refused.
    let keys: Vec<Key> = cache.keys().collect::<Result<_, _>>()?;
    assert_eq!(keys.len(), 8);
    let packed: Vec<&Key> = keys
        .iter()
        .filter(|k| matches!(k, Key::Packed(_)))
        .collect();
    assert_eq!(packed.len(), 2, "{keys:?}");
    for key in &packed {
        let err = key.decode::<std::collections::HashMap<String, i64>>().err();
        assert!(matches!(err, Some(Error::Pickled { .. })), "{err:?}");
        assert_eq!(err.as_ref().and_then(pickled).as_ref(), Some(*key));
        let err = key.decode::<(i64, i64)>().err().ok_or("decoded a pickle")?;
        assert_eq!(pickled(&err).as_ref(), Some(*key));
    }
    assert_eq!(
        cache.peekitem::<String>(false)?.map(|(_, v)| v).as_deref(),
        Some("tuple key")
    );
    let index: Index<(i64, i64), String> = Index::from_cache(cache.clone());
    let err = index.peekitem(false).err().ok_or("decoded a pickled key")?;
    assert_eq!(pickled(&err).as_ref(), Some(packed[0]));
    let err = index.popitem(false).err().ok_or("decoded a pickled key")?;
    assert_eq!(pickled(&err).as_ref(), Some(packed[0]));
    assert!(
        cache.contains(packed[0])?,
        "a refused popitem removes nothing"
    );
    let decoded: Vec<_> = index.keys().collect();
    assert_eq!(decoded.len(), 8, "an error per key, then on to the next");
    assert!(decoded.iter().all(Result::is_err), "{decoded:?}");

    // Values: refused on every read path, naming the key; nothing removed.
    let name = Key::Text("pickled-value".into());
    for err in [
        cache.get::<Vec<i64>>("pickled-value").err(),
        cache.get_entry::<Vec<i64>>("pickled-value").err(),
        cache.pop::<Vec<i64>>("pickled-value").err(),
        cache.read("pickled-value").err(),
        cache.get::<String>(packed[1]).err(),
    ] {
        let err = err.ok_or("decoded a pickled value")?;
        assert!(matches!(err, Error::Pickled { .. }), "{err:?}");
        let key = pickled(&err).ok_or("no key")?;
        assert!(key == name || &key == packed[1], "{key:?}");
    }
    assert!(cache.contains("pickled-value")?);

    // A pickled value at the head of a queue names its key: delete, go on.
    let head = Key::Text("jobs-500000000000000".into());
    for err in [
        cache.pull::<String>(Some("jobs"), Side::Front).err(),
        cache.peek::<String>(Some("jobs"), Side::Front).err(),
    ] {
        let err = err.ok_or("decoded a pickled queue item")?;
        assert_eq!(pickled(&err).as_ref(), Some(&head));
        assert!(err.to_string().contains("jobs-500000000000000"), "{err}");
    }
    assert!(cache.delete(&head)?);
    assert_eq!(
        cache.peek::<String>(Some("jobs"), Side::Front)?,
        Some((Key::Text("jobs-500000000000001".into()), "after".into()))
    );
    let err = cache
        .peek::<i64>(None, Side::Front)
        .err()
        .ok_or("decoded")?;
    assert_eq!(pickled(&err), Some(Key::Int(500_000_000_000_000)));
    assert_eq!(
        cache.peek::<i64>(None, Side::Back)?,
        Some((Key::Int(500_000_000_000_001), 5))
    );

    // The key handed out finds the entry: delete the pickled ("x",).
    assert!(cache.delete(packed[1])?);
    cache.set("from-rust", "ok")?;
    drop(index);
    drop(cache);
    run_python(&py, "pickled-read", dir.path())?;
    Ok(())
}
