//! The JSON codec (python-diskcache's `JSONDisk`): keys byte-identical to
//! what python makes (`zlib.compress(json.dumps(x).encode(), level)`, the
//! expected bytes below printed by CPython 3.11 with zlib 1.2.13), values
//! stored as bytes inline or in a binary file, and a MessagePack cache
//! unchanged beside it.

use std::collections::BTreeMap;

use diskcache_shard::{Cache, Codec, Key, SetOptions, Side};
use serde::{Deserialize, Serialize};

type Res = Result<(), Box<dyn std::error::Error>>;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect()
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct User {
    name: String,
    id: u32,
    tags: Vec<String>,
    score: f64,
}

fn ada() -> User {
    User {
        name: "ada".into(),
        id: 7,
        tags: vec!["x".into(), "y".into()],
        score: 0.1,
    }
}

#[test]
fn keys_are_the_bytes_python_makes() -> Res {
    let one = Cache::builder().codec(Codec::json()).open_temp()?;
    let nine = Cache::builder()
        .codec(Codec::Json { level: 9 })
        .open_temp()?;
    let zero = Cache::builder()
        .codec(Codec::Json { level: 0 })
        .open_temp()?;
    let check = |k: &dyn erased::Ser, python: &str| -> Res {
        assert_eq!(k.key(&one)?, Key::Bytes(hex(python)));
        Ok(())
    };
    check(&"k", "780153ca560200016100b0")?;
    check(&1, "780133040000320032")?;
    check(&1.5, "780133d433050001270095")?;
    check(&-0.0, "7801d335d033000001d400bc")?;
    check(&1e16, "7801334cd53634030003a70129")?;
    check(&1e-5, "7801334cd53530050003aa0129")?;
    check(&f64::NAN, "7801f34bf4030001fd00fe")?;
    check(&f64::INFINITY, "7801f3cc4bcbcccb2ca904000e17034b")?;
    check(
        &u64::MAX,
        "780133b43031313337313130373637b034353534333405002b1e0418",
    )?;
    check(
        &"\u{e9}\u{1F600}\u{7f}\"\\\n",
        "7801538a29353048b58c294db1304e0192a906062011f3b418a59898983c2500a36109e0",
    )?;
    let list = (1, "a", None::<i32>, true, false);
    check(
        &list,
        "78018b36d451504a54d251c82bcdc9d15128292a4dd551484bcc294e8d050067c30845",
    )?;
    #[derive(Serialize)]
    struct Ordered {
        b: i32,
        a: (f64, f64),
    }
    check(
        &Ordered {
            b: 1,
            a: (1.0, 1e16),
        },
        "7801ab564a52b25230d451504a04d2d1867a063a0a86a9da8666b1b50053aa0630",
    )?;
    let user = "ab56ca4bcc4d55b252504a4c4954d25150ca4c0172cc818c92c4f46220335aa902245ca9140b248b93f38b408a0df40c6b01c7250f3b";
    check(&ada(), &format!("7801{user}"))?;
    assert_eq!(
        nine.encode_key(&ada())?,
        Key::Bytes(hex(&format!("78da{user}")))
    );
    let range: Vec<i32> = (0..50).collect();
    let stored = "780101be0041ff5b302c20312c20322c20332c20342c20352c20362c20372c20382c20392c2031302c2031312c2031322c2031332c2031342c2031352c2031362c2031372c2031382c2031392c2032302c2032312c2032322c2032332c2032342c2032352c2032362c2032372c2032382c2032392c2033302c2033312c2033322c2033332c2033342c2033352c2033362c2033372c2033382c2033392c2034302c2034312c2034322c2034332c2034342c2034352c2034362c2034372c2034382c2034395d5877216a";
    assert_eq!(zero.encode_key(&range)?, Key::Bytes(hex(stored)));
    // A stored key passed back is taken as it is.
    assert_eq!(
        one.encode_key(&Key::Text("q-1".into()))?,
        Key::Text("q-1".into())
    );
    Ok(())
}

/// Encoding through a trait object, so one closure takes keys of any type.
mod erased {
    use diskcache_shard::{Cache, Key, Result};
    pub trait Ser {
        fn key(&self, cache: &Cache) -> Result<Key>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn key(&self, cache: &Cache) -> Result<Key> {
            cache.encode_key(self)
        }
    }
}

/// The `mode` and whether a file is named, of the row stored for `key`.
fn row_of(cache: &Cache, key: &Key) -> Result<(i64, bool, Vec<u8>), Box<dyn std::error::Error>> {
    let db = rusqlite::Connection::open(cache.directory().join("cache.db"))?;
    let Key::Bytes(k) = key else {
        return Err("not a byte key".into());
    };
    Ok(db.query_row(
        "SELECT mode, filename IS NOT NULL, COALESCE(value, x'') FROM Cache WHERE key = ?1 AND raw = 1",
        [k],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

#[test]
fn values_are_compressed_json_bytes_inline_or_in_a_binary_file() -> Res {
    let cache = Cache::builder()
        .codec(Codec::json())
        .min_file_size(200)
        .open_temp()?;
    cache.set("user", &ada())?;
    cache.set("text", "plain")?;
    cache.set(&7, &42)?;
    let big: Vec<String> = (0..500).map(|i| format!("item-{i}")).collect();
    cache.set("big", &big)?;

    assert_eq!(cache.get::<User>("user")?, Some(ada()));
    assert_eq!(cache.get::<String>("text")?.as_deref(), Some("plain"));
    assert_eq!(cache.get::<i64>(&7)?, Some(42));
    assert_eq!(cache.get::<Vec<String>>("big")?, Some(big.clone()));

    let (mode, file, value) = row_of(&cache, &cache.encode_key("text")?)?;
    assert_eq!((mode, file), (1, false));
    assert_eq!(
        value,
        hex("7801532ac849cccc530200096e0259"),
        "zlib of '\"plain\"'"
    );
    let (mode, file, _) = row_of(&cache, &cache.encode_key("big")?)?;
    assert_eq!((mode, file), (2, true));
    // The raw bytes are the compressed JSON, as python's read=True hands out.
    let read = cache.read("big")?.ok_or("missing")?;
    assert!(read.path().is_some());
    let plain = Cache::builder()
        .codec(Codec::json())
        .open(cache.directory())?;
    assert_eq!(plain.get::<Vec<String>>("big")?, Some(big));
    Ok(())
}

#[test]
fn the_other_calls_use_the_codec_too() -> Res {
    let cache = Cache::builder().codec(Codec::json()).open_temp()?;
    assert!(cache.add(&[1, 2], &"v")?);
    assert!(!cache.add(&[1, 2], &"w")?);
    assert!(cache.contains(&[1, 2])?);
    let mut map = BTreeMap::new();
    map.insert("k".to_string(), vec![1.5]);
    cache.set_with(&map, &map, &SetOptions::new().tag("t"))?;
    let entry = cache
        .get_entry::<BTreeMap<String, Vec<f64>>>(&map)?
        .ok_or("missing")?;
    assert_eq!(entry.value, map);
    assert_eq!(entry.tag, Some(Key::Text("t".into())), "tags stay native");
    assert_eq!(cache.incr("n", 2, Some(0))?, 2);
    assert_eq!(cache.incr("n", 3, None)?, 5);
    assert_eq!(cache.get::<i64>("n")?, Some(5));
    let (key, value) = cache.peekitem::<String>(false)?.ok_or("empty")?;
    assert_eq!(value, "v");
    assert_eq!(cache.decode_key::<Vec<i64>>(&key)?, vec![1, 2]);
    assert_eq!(cache.pop::<String>(&key)?.as_deref(), Some("v"));
    // Queue keys stay native, their values are JSON.
    let qk = cache.push(&vec![true, false], Some("q"), Side::Back)?;
    assert_eq!(qk, Key::Text("q-500000000000000".into()));
    assert_eq!(cache.get::<Vec<bool>>(&qk)?, Some(vec![true, false]));
    assert_eq!(
        cache.pull::<Vec<bool>>(Some("q"), Side::Front)?,
        Some((qk, vec![true, false]))
    );
    assert!(cache.delete(&map)?);
    assert_eq!(cache.len()?, 1);
    Ok(())
}

#[test]
fn a_message_pack_cache_is_unchanged() -> Res {
    let cache = Cache::builder().open_temp()?;
    assert_eq!(cache.codec(), Codec::MessagePack);
    assert_eq!(cache.encode_key("k")?, Key::Text("k".into()));
    assert_eq!(cache.encode_key(&3)?, Key::Int(3));
    cache.set("user", &ada())?;
    let db = rusqlite::Connection::open(cache.directory().join("cache.db"))?;
    let mode: i64 = db.query_row("SELECT mode FROM Cache WHERE key = 'user'", [], |r| {
        r.get(0)
    })?;
    assert_eq!(mode, 5);
    assert_eq!(cache.get::<User>("user")?, Some(ada()));
    // A JSON handle on it does not find text keys as JSON.
    let json = Cache::builder()
        .codec(Codec::json())
        .open(cache.directory())?;
    assert_eq!(json.get::<User>("user")?, None);
    Ok(())
}

#[test]
fn bad_json_is_a_type_mismatch_and_a_bad_level_is_refused() -> Res {
    let cache = Cache::builder().codec(Codec::json()).open_temp()?;
    cache.set_reader("raw", &mut b"not zlib".as_slice(), &SetOptions::new())?;
    assert!(matches!(
        cache.get::<String>("raw"),
        Err(diskcache_shard::Error::TypeMismatch { .. })
    ));
    cache.set("s", "text")?;
    assert!(cache.get::<i64>("s").is_err());
    assert!(
        Cache::builder()
            .codec(Codec::Json { level: 10 })
            .open_temp()
            .is_err()
    );
    Ok(())
}
