//! `info`, `keys` and `get` on a cache holding every kind of key and value:
//! every listed key reads back the value stored under it.

mod common;

use std::collections::BTreeMap;

use common::{TestResult, diskcache};
use diskcache::{Cache, Key, SetOptions};

#[test]
fn keys_and_values_of_every_kind_read_back() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().statistics(true).open(dir.path())?;
    cache.set("text", "hello\nworld")?;
    cache.set(&7, &vec![0u8, 159, 255])?;
    cache.set(&1.5, &42)?;
    cache.set(&b"raw-key".to_vec(), &-0.25)?;
    cache.set(&("user", 42), &BTreeMap::from([("name", "ada")]))?;
    cache.set("int:look-alike", "prefixed")?;
    let big = vec![b'x'; 100_000];
    cache.set_with("big", &big, &SetOptions::new().tag("blobs"))?;
    assert_eq!(cache.get::<String>("missing")?, None);
    // Closing the handle records its statistics (a handle batches them).
    cache.close()?;

    let listed = diskcache("keys", dir.path(), &[])?;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    let keys: Vec<String> = listed.text().lines().map(str::to_owned).collect();
    let packed = match Key::from_value(&("user", 42))? {
        Key::Packed(b) => b.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        other => panic!("not packed: {other:?}"),
    };
    assert_eq!(
        keys,
        [
            "text".to_owned(),
            "int:7".into(),
            "float:1.5".into(),
            "hex:7261772d6b6579".into(),
            format!("packed:{packed}"),
            "text:int:look-alike".into(),
            "big".into(),
        ]
    );

    // Each printed key reads back its value; bytes and text come out as
    // they are, other values as JSON.
    let expected: [&[u8]; 7] = [
        b"hello\nworld",
        &[0, 159, 255],
        b"42\n",
        b"-0.25\n",
        b"{\"name\": \"ada\"}\n",
        b"prefixed",
        &big,
    ];
    for (key, want) in keys.iter().zip(expected) {
        let got = diskcache("get", dir.path(), &[key])?;
        assert_eq!(got.code, Some(0), "{key}: {}", got.stderr);
        assert_eq!(got.stdout, want, "{key}");
    }
    let hex = diskcache("get", dir.path(), &["int:7", "--hex"])?;
    assert_eq!(hex.text(), "009fff\n");

    let newest = diskcache("keys", dir.path(), &["--reverse", "--limit", "2"])?;
    assert_eq!(newest.text(), "big\ntext:int:look-alike\n");

    let missing = diskcache("get", dir.path(), &["nope"])?;
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("no entry nope"),
        "{}",
        missing.stderr
    );
    assert!(missing.stdout.is_empty());

    let info = diskcache("info", dir.path(), &[])?.text();
    assert!(info.contains("layout      one cache"), "{info}");
    assert!(info.contains("entries     7"), "{info}");
    assert!(info.contains("least-recently-stored"), "{info}");
    // Statistics count the gets of every process.
    assert!(info.contains("statistics  8 hits, 2 misses"), "{info}");
    Ok(())
}

#[test]
fn a_directory_that_is_not_a_cache_is_refused_and_left_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("notes.txt"), "not a cache")?;
    let refused = diskcache("info", dir.path(), &[])?;
    assert_eq!(refused.code, Some(2));
    assert!(
        refused.stderr.contains("not a cache directory"),
        "{}",
        refused.stderr
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
    assert_eq!(names.len(), 1, "something was created");

    let absent = dir.path().join("absent");
    let refused = diskcache("clear", &absent, &[])?;
    assert_eq!(refused.code, Some(2));
    assert!(!absent.exists(), "the directory was created");
    Ok(())
}

#[test]
fn bad_command_lines_are_usage_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    Cache::open(dir.path())?.set("k", "v")?;
    for (command, args) in [
        ("frobnicate", &[][..]),
        ("get", &[][..]),
        ("get", &["int:x"][..]),
        ("keys", &["--limit", "many"][..]),
        ("check", &["--force"][..]),
        ("expire", &["extra"][..]),
    ] {
        let run = diskcache(command, dir.path(), args)?;
        assert_eq!(run.code, Some(2), "{command} {args:?}");
        assert!(run.stderr.contains("usage: diskcache"), "{}", run.stderr);
    }
    // Nothing above touched the entry.
    assert_eq!(
        Cache::open(dir.path())?.get::<String>("k")?.as_deref(),
        Some("v")
    );
    Ok(())
}
