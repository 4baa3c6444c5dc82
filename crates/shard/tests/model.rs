//! Random operation sequences against a `BTreeMap` reference model.
//!
//! Keys come from a table of awkward keys that must all stay distinct:
//! extreme integers, floats, empty and non-ASCII text, text with a NUL,
//! empty bytes and bytes with NUL and 0xFF, MessagePack tuples, and
//! look-alikes (`1`, `"1"`, `b"1"`). Run longer with
//! `PROPTEST_CASES=5000 cargo test --release -p diskcache-shard --test model`.

use std::collections::BTreeMap;

use diskcache_shard::{Cache, Error, Key};
use proptest::prelude::*;

/// The key of model slot `i`.
fn key(i: u8) -> Key {
    match i {
        0 => Key::Int(0),
        1 => Key::Int(1),
        2 => Key::Int(-1),
        3 => Key::Int(i64::MAX),
        4 => Key::Int(i64::MIN),
        5 => Key::Real(2.5),
        6 => Key::Real(-0.125),
        7 => Key::Text(String::new()),
        8 => Key::Text("1".into()),
        9 => Key::Text("ключ 🗝".into()),
        10 => Key::Bytes(Vec::new()),
        11 => Key::Bytes(b"1".to_vec()),
        12 => Key::Bytes(vec![0, 0xff]),
        13 => Key::from_value(&("1", 1)).unwrap_or(Key::Int(13)),
        14 => Key::from_value(&("", 0u8, vec![1u16])).unwrap_or(Key::Int(14)),
        _ => Key::Text("k\0ey".into()),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Set(u8, Vec<u8>),
    SetText(u8, String),
    Get(u8),
    Add(u8, Vec<u8>),
    Delete(u8),
    Pop(u8),
    Incr(u8, i32),
    Contains(u8),
    Len,
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    // Values up to 3000 bytes cross the 1024-byte file threshold.
    let value = prop::collection::vec(any::<u8>(), 0..3000);
    prop_oneof![
        4 => (0..16u8, value.clone()).prop_map(|(k, v)| Op::Set(k, v)),
        1 => (0..16u8, "[a-z]{0,40}").prop_map(|(k, v)| Op::SetText(k, v)),
        4 => (0..16u8).prop_map(Op::Get),
        2 => (0..16u8, value).prop_map(|(k, v)| Op::Add(k, v)),
        2 => (0..16u8).prop_map(Op::Delete),
        1 => (0..16u8).prop_map(Op::Pop),
        2 => (0..16u8, -5..5i32).prop_map(|(k, d)| Op::Incr(k, d)),
        1 => (0..16u8).prop_map(Op::Contains),
        1 => Just(Op::Len),
        1 => Just(Op::Clear),
    ]
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    Bytes(Vec<u8>),
    Text(String),
    Int(i64),
}

fn run(ops: Vec<Op>) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::builder().min_file_size(1024).open(dir.path())?;
    let mut model: BTreeMap<u8, Val> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Set(k, v) => {
                cache.set(&key(k), &v)?;
                model.insert(k, Val::Bytes(v));
            }
            Op::SetText(k, v) => {
                cache.set(&key(k), &v)?;
                model.insert(k, Val::Text(v));
            }
            Op::Get(k) => match model.get(&k) {
                Some(Val::Bytes(v)) => assert_eq!(cache.get::<Vec<u8>>(&key(k))?.as_ref(), Some(v)),
                Some(Val::Text(v)) => assert_eq!(cache.get::<String>(&key(k))?.as_ref(), Some(v)),
                Some(Val::Int(v)) => assert_eq!(cache.get::<i64>(&key(k))?, Some(*v)),
                None => assert_eq!(cache.get::<Vec<u8>>(&key(k))?, None),
            },
            Op::Add(k, v) => {
                let added = cache.add(&key(k), &v)?;
                assert_eq!(added, !model.contains_key(&k));
                model.entry(k).or_insert(Val::Bytes(v));
            }
            Op::Delete(k) => assert_eq!(cache.delete(&key(k))?, model.remove(&k).is_some()),
            Op::Pop(k) => match model.get(&k).cloned() {
                Some(Val::Bytes(v)) => {
                    assert_eq!(cache.pop::<Vec<u8>>(&key(k))?, Some(v));
                    model.remove(&k);
                }
                Some(_) => {
                    // Popping as the wrong type fails and keeps the entry.
                    assert!(matches!(
                        cache.pop::<Vec<u8>>(&key(k)),
                        Err(Error::TypeMismatch { .. })
                    ));
                }
                None => assert_eq!(cache.pop::<Vec<u8>>(&key(k))?, None),
            },
            Op::Incr(k, d) => match model.get(&k).cloned() {
                Some(Val::Int(n)) => {
                    assert_eq!(cache.incr(&key(k), d.into(), Some(0))?, n + i64::from(d));
                    model.insert(k, Val::Int(n + i64::from(d)));
                }
                Some(_) => assert!(matches!(
                    cache.incr(&key(k), d.into(), Some(0)),
                    Err(Error::TypeMismatch { .. })
                )),
                None => {
                    assert_eq!(
                        cache.incr(&key(k), d.into(), Some(100))?,
                        100 + i64::from(d)
                    );
                    model.insert(k, Val::Int(100 + i64::from(d)));
                }
            },
            Op::Contains(k) => assert_eq!(cache.contains(&key(k))?, model.contains_key(&k)),
            Op::Len => assert_eq!(cache.len()?, model.len() as u64),
            Op::Clear => {
                assert_eq!(cache.clear()?, model.len() as u64);
                model.clear();
            }
        }
    }
    assert_eq!(cache.len()?, model.len() as u64);
    let report = cache.check(false)?;
    assert!(report.is_clean(), "{report:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn cache_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        if let Err(e) = run(ops) {
            return Err(TestCaseError::fail(e.to_string()));
        }
    }
}
