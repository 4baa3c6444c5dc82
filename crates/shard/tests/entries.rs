//! The calls that hand out an entry's expiry time and tag with its value
//! (`pop_entry`, `pull_entry`, `peek_entry`, `peekitem_entry`: python's
//! `expire_time=True, tag=True`), and the path of a file-backed value
//! (python's `read=True` handle's `name`).

use std::time::{Duration, SystemTime};

use diskcache_shard::{Cache, Key, SetOptions, Side};

type Res = Result<(), Box<dyn std::error::Error>>;

fn tagged(tag: &str, secs: u64) -> SetOptions {
    SetOptions::new().expire(Duration::from_secs(secs)).tag(tag)
}

/// Whether `t` lies within a few seconds of `secs` from now.
fn about(t: Option<SystemTime>, secs: u64) -> bool {
    let want = SystemTime::now() + Duration::from_secs(secs);
    t.is_some_and(|t| {
        let off = t.duration_since(want).unwrap_or_else(|e| e.duration());
        off < Duration::from_secs(5)
    })
}

#[test]
fn pop_entry_returns_expiry_and_tag_and_removes_inline_and_file_values() -> Res {
    let cache = Cache::builder().min_file_size(64).open_temp()?;
    cache.set_with("small", &7, &tagged("a", 100))?;
    let big = vec![3u8; 1000];
    cache.set_with("big", serde_bytes::Bytes::new(&big), &tagged("b", 200))?;
    cache.set("plain", "p")?;

    let small = cache.pop_entry::<i64>("small")?.ok_or("small missing")?;
    assert_eq!(small.value, 7);
    assert_eq!(small.tag, Some(Key::Text("a".into())));
    assert!(about(small.expire_time, 100), "{:?}", small.expire_time);

    let file = cache.read("big")?.ok_or("big missing")?;
    let path = file.path().ok_or("no path")?.to_path_buf();
    assert!(path.exists());
    let popped = cache.pop_entry::<Vec<u8>>("big")?.ok_or("big missing")?;
    assert_eq!(popped.value, big);
    assert_eq!(popped.tag, Some(Key::Text("b".into())));
    assert!(about(popped.expire_time, 200));
    assert!(!path.exists(), "the popped value's file stayed");

    let plain = cache.pop_entry::<String>("plain")?.ok_or("plain missing")?;
    assert_eq!(
        (plain.value.as_str(), plain.expire_time, plain.tag),
        ("p", None, None)
    );
    assert!(cache.pop_entry::<i64>("small")?.is_none());
    assert!(cache.is_empty()?);
    Ok(())
}

#[test]
fn pop_entry_of_an_expired_entry_is_a_miss_and_a_wrong_type_keeps_it() -> Res {
    let cache = Cache::builder().open_temp()?;
    cache.set_with(
        "gone",
        &1,
        &SetOptions::new().expire(Duration::from_millis(1)),
    )?;
    std::thread::sleep(Duration::from_millis(20));
    assert!(cache.pop_entry::<i64>("gone")?.is_none());
    cache.set("text", "t")?;
    assert!(cache.pop_entry::<i64>("text").is_err());
    assert_eq!(cache.get::<String>("text")?.as_deref(), Some("t"));
    Ok(())
}

#[test]
fn pull_and_peek_entries_at_both_ends_skip_expired_items() -> Res {
    let cache = Cache::builder().open_temp()?;
    let soon = SetOptions::new()
        .expire(Duration::from_millis(1))
        .tag("old");
    cache.push_with(&"expired-front", Some("q"), Side::Back, &soon)?;
    cache.push_with(&"one", Some("q"), Side::Back, &tagged("t1", 50))?;
    cache.push_with(&"two", Some("q"), Side::Back, &SetOptions::new().tag(2))?;
    cache.push_with(&"expired-back", Some("q"), Side::Back, &soon)?;
    std::thread::sleep(Duration::from_millis(20));

    let (key, front) = cache
        .peek_entry::<String>(Some("q"), Side::Front)?
        .ok_or("empty")?;
    assert_eq!(key, Key::Text("q-500000000000001".into()));
    assert_eq!(front.value, "one");
    assert_eq!(front.tag, Some(Key::Text("t1".into())));
    assert!(about(front.expire_time, 50));

    let (key, back) = cache
        .peek_entry::<String>(Some("q"), Side::Back)?
        .ok_or("empty")?;
    assert_eq!(key, Key::Text("q-500000000000002".into()));
    assert_eq!((back.value.as_str(), back.expire_time), ("two", None));
    assert_eq!(back.tag, Some(Key::Int(2)));
    // Peeking removed the two expired items and nothing else.
    assert_eq!(cache.len()?, 2);

    let (_, pulled) = cache
        .pull_entry::<String>(Some("q"), Side::Back)?
        .ok_or("empty")?;
    assert_eq!(
        (pulled.value.as_str(), pulled.tag),
        ("two", Some(Key::Int(2)))
    );
    let (_, pulled) = cache
        .pull_entry::<String>(Some("q"), Side::Front)?
        .ok_or("empty")?;
    assert_eq!(pulled.value, "one");
    assert!(about(pulled.expire_time, 50));
    assert!(
        cache
            .pull_entry::<String>(Some("q"), Side::Front)?
            .is_none()
    );
    assert!(cache.peek_entry::<String>(Some("q"), Side::Back)?.is_none());
    Ok(())
}

#[test]
fn the_plain_queue_calls_still_return_key_and_value() -> Res {
    let cache = Cache::builder().open_temp()?;
    cache.push_with(&10, None, Side::Back, &tagged("x", 9))?;
    assert_eq!(
        cache.peek::<i64>(None, Side::Back)?,
        Some((Key::Int(500_000_000_000_000), 10))
    );
    assert_eq!(
        cache.pull::<i64>(None, Side::Front)?,
        Some((Key::Int(500_000_000_000_000), 10))
    );
    Ok(())
}

#[test]
fn peekitem_entry_reads_either_end_with_expiry_and_tag() -> Res {
    let cache = Cache::builder().open_temp()?;
    cache.set_with(&1, "first", &tagged("f", 30))?;
    cache.set("middle", "m")?;
    cache.set_with(&2.5, "last", &SetOptions::new().tag(b"raw".as_slice()))?;
    let (key, last) = cache.peekitem_entry::<String>(true)?.ok_or("empty")?;
    assert_eq!((key, last.value.as_str()), (Key::Real(2.5), "last"));
    assert_eq!(last.tag, Some(Key::Bytes(b"raw".to_vec())));
    assert_eq!(last.expire_time, None);
    let (key, first) = cache.peekitem_entry::<String>(false)?.ok_or("empty")?;
    assert_eq!((key, first.value.as_str()), (Key::Int(1), "first"));
    assert!(about(first.expire_time, 30));
    assert_eq!(cache.len()?, 3);
    Ok(())
}

#[test]
fn a_file_backed_value_names_its_file_and_an_inline_one_none() -> Res {
    let cache = Cache::builder().min_file_size(100).open_temp()?;
    let big = vec![9u8; 5000];
    cache.set("bytes", serde_bytes::Bytes::new(&big))?;
    cache.set("text", &"é".repeat(100))?;
    cache.set("inline", serde_bytes::Bytes::new(b"tiny"))?;
    let streamed = vec![1u8; 300];
    cache.set_reader("streamed", &mut streamed.as_slice(), &SetOptions::new())?;

    for (key, want) in [
        ("bytes", big.clone()),
        ("text", "é".repeat(100).into_bytes()),
        ("streamed", streamed.clone()),
    ] {
        let value = cache.read(key)?.ok_or("missing")?;
        let path = value.path().ok_or("no path")?;
        assert!(path.starts_with(cache.directory()), "{path:?}");
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("val"));
        assert_eq!(std::fs::read(path)?, want);
        assert_eq!(&value[..], &want[..]);
    }
    let inline = cache.read("inline")?.ok_or("missing")?;
    assert_eq!(inline.path(), None);
    assert_eq!(&inline[..], b"tiny");
    // Replacing the value removes the file the old path named.
    let old = cache.read("bytes")?.ok_or("missing")?;
    let old_path = old.path().ok_or("no path")?.to_path_buf();
    cache.set("bytes", serde_bytes::Bytes::new(&big))?;
    assert!(!old_path.exists());
    assert_eq!(&old[..], &big[..], "an open map outlives its file");
    Ok(())
}

#[test]
fn an_empty_value_file_has_a_path_and_no_bytes() -> Res {
    let cache = Cache::builder().min_file_size(0).open_temp()?;
    cache.set("empty", serde_bytes::Bytes::new(b""))?;
    let value = cache.read("empty")?.ok_or("missing")?;
    assert!(!value.is_mapped());
    assert!(value.is_empty());
    let path = value.path().ok_or("no path")?;
    assert_eq!(std::fs::metadata(path)?.len(), 0);
    Ok(())
}
