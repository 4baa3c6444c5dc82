//! Keys and values python-diskcache pickled, written here by SQL as python
//! writes them: never decoded as something else, refused with
//! `Error::Pickled` naming the key on every path that would decode them,
//! and a pickled item at the head of a queue can be deleted by that key.

use std::collections::HashMap;

use diskcache_shard::{Cache, Error, Key, Side};
use rusqlite::Connection;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `pickle.dumps((1, 2), protocol=5)`, as python-diskcache stores the key
/// `(1, 2)` (raw = 0).
const TUPLE_5: &[u8] = b"\x80\x05\x95\x07\0\0\0\0\0\0\0K\x01K\x02\x86\x94.";
/// The same with protocol 2 (no frame).
const TUPLE_2: &[u8] = b"\x80\x02K\x01K\x02\x86q\x00.";
/// `pickle.dumps(("a", 1), protocol=5)`: a pickled value (mode 4).
const PAIR_5: &[u8] = b"\x80\x05\x95\t\0\0\0\0\0\0\0\x8c\x01a\x94K\x01\x86\x94.";

/// The key a [`Error::Pickled`] names, if any.
fn pickled(err: &Error) -> Option<Key> {
    match err {
        Error::Pickled { key } => key.clone(),
        _ => None,
    }
}

/// A cache with the rows python-diskcache writes for `set((1, 2), "t")`,
/// `set(b"...protocol 2 tuple...", ...)` as a pickled key, `push(("a", 1),
/// prefix="jobs")` and `push("after", prefix="jobs")`.
fn python_rows() -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let cache = Cache::open(dir.path())?;
        cache.push(&"placeholder", Some("jobs"), Side::Back)?;
        cache.push(&"after", Some("jobs"), Side::Back)?;
        cache.set("plain", &1)?;
    }
    let db = Connection::open(dir.path().join("cache.db"))?;
    let insert = "INSERT INTO Cache (key, raw, store_time, access_time, mode, value) \
                  VALUES (?1, 0, 0, 0, 1, ?2)";
    db.execute(insert, rusqlite::params![TUPLE_5, "t"])?;
    db.execute(insert, rusqlite::params![TUPLE_2, "t2"])?;
    db.execute(
        "UPDATE Cache SET mode = 4, value = ?1 WHERE key = 'jobs-500000000000000'",
        [PAIR_5],
    )?;
    db.execute(
        "UPDATE Cache SET mode = 4, value = ?1 WHERE key = 'plain'",
        [PAIR_5],
    )?;
    Ok(dir)
}

#[test]
fn a_pickled_key_never_decodes_as_something_else() -> TestResult {
    let dir = python_rows()?;
    let cache = Cache::open(dir.path())?;
    let keys: Vec<Key> = cache.keys().collect::<Result<_, _>>()?;
    let pickles: Vec<&Key> = keys.iter().filter(|k| k.is_pickled()).collect();
    assert_eq!(pickles.len(), 2, "{keys:?}");
    for key in &pickles {
        // MessagePack would read 0x80 as an empty map and stop there.
        let err = key.decode::<HashMap<String, i64>>().err();
        assert!(matches!(err, Some(Error::Pickled { .. })), "{err:?}");
        assert_eq!(err.as_ref().and_then(pickled).as_ref(), Some(*key));
        let err = key.decode::<(i64, i64)>().err().ok_or("decoded")?;
        assert_eq!(pickled(&err).as_ref(), Some(*key));
        assert!(err.to_string().contains("pickle"), "{err}");
        // The key still finds its entry.
        assert!(cache.contains(*key)?);
    }
    let rev: Vec<Key> = cache.keys_rev().collect::<Result<_, _>>()?;
    assert!(rev[0].is_pickled());
    assert!(rev[0].decode::<HashMap<String, i64>>().is_err());
    // peekitem hands the newest key out as stored; its value decodes.
    let (key, value) = cache.peekitem::<String>(true)?.ok_or("empty")?;
    assert!(key.is_pickled());
    assert_eq!(value, "t2");
    assert!(matches!(
        key.decode::<(i64, i64)>(),
        Err(Error::Pickled { .. })
    ));
    assert_eq!(cache.get::<String>(&key)?.as_deref(), Some("t2"));
    assert!(cache.delete(&key)?);
    // Keys of ours are never taken for pickles.
    for ours in [
        Key::from_value(&HashMap::<String, i64>::new())?,
        Key::from_value(&(1, 2))?,
        Key::from_value(b"\x80\x05".as_slice())?,
    ] {
        assert!(!ours.is_pickled(), "{ours:?}");
    }
    assert_eq!(
        Key::from_value(&HashMap::<String, i64>::new())?.decode::<HashMap<String, i64>>()?,
        HashMap::new()
    );
    Ok(())
}

#[test]
fn a_pickled_value_is_refused_on_every_read_path_naming_its_key() -> TestResult {
    let dir = python_rows()?;
    let cache = Cache::open(dir.path())?;
    let plain = Key::Text("plain".into());
    for err in [
        cache.get::<Vec<String>>("plain").err(),
        cache.get_entry::<Vec<String>>("plain").err(),
        cache.pop::<Vec<String>>("plain").err(),
        cache.read("plain").err(),
    ] {
        let err = err.ok_or("decoded a pickle")?;
        assert_eq!(pickled(&err).as_ref(), Some(&plain), "{err:?}");
        assert!(err.to_string().contains("\"plain\""), "{err}");
    }
    assert!(cache.contains("plain")?, "a refused pop removes nothing");
    // Twice, so that a read memo would answer the second time.
    for _ in 0..2 {
        let err = cache.get::<String>("plain").err().ok_or("decoded")?;
        assert_eq!(pickled(&err), Some(plain.clone()));
    }
    Ok(())
}

/// A pickled item at the head of a queue blocks `pull` and `peek`, with an
/// error that names its key; deleting that key lets the queue go on.
#[test]
fn a_pickled_queue_head_names_its_key_and_can_be_deleted() -> TestResult {
    let dir = python_rows()?;
    let cache = Cache::open(dir.path())?;
    let head = Key::Text("jobs-500000000000000".into());
    for _ in 0..2 {
        for err in [
            cache.pull::<String>(Some("jobs"), Side::Front).err(),
            cache.peek::<String>(Some("jobs"), Side::Front).err(),
        ] {
            let err = err.ok_or("decoded a pickle")?;
            assert_eq!(pickled(&err).as_ref(), Some(&head), "{err:?}");
            assert!(err.to_string().contains("jobs-500000000000000"), "{err}");
        }
    }
    assert_eq!(cache.len()?, 5, "a refused pull removes nothing");
    // The other end is not blocked.
    assert_eq!(
        cache.peek::<String>(Some("jobs"), Side::Back)?,
        Some((Key::Text("jobs-500000000000001".into()), "after".into()))
    );
    assert!(cache.delete(&head)?);
    assert_eq!(
        cache.pull::<String>(Some("jobs"), Side::Front)?,
        Some((Key::Text("jobs-500000000000001".into()), "after".into()))
    );
    assert_eq!(cache.pull::<String>(Some("jobs"), Side::Front)?, None);
    Ok(())
}
