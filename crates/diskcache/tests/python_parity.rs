//! The format against both python packages that write it: python-diskcache
//! 5.6.3 and diskcache-community (its maintained fork, the latest release),
//! each from PyPI in a virtual environment of its own, in both directions:
//! Cache (native values, expiry, tags, queues with their expiry and tag),
//! FanoutCache (python's hash), Deque, Index, the JSONDisk codec (keys and
//! values of every JSON type, inline and in files, levels 1 and 9, a
//! JSONDisk FanoutCache, zlib output byte for byte at every level), and a
//! python process and this one incrementing one counter and pushing and
//! pulling one queue at the same time, with exact totals.
//!
//! Needs `python3`; without it every test is skipped with a message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use diskcache::{
    Cache, CacheBuilder, Codec, Deque, FanoutCache, Index, Key, SetOptions, ShardHash, Side,
};
use serde::{Deserialize, Serialize};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[allow(dead_code)]
mod interop;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/parity.py");

/// A python package that writes the format.
#[derive(Clone, Copy, Debug)]
struct Package {
    venv: &'static str,
    pip: &'static str,
    module: &'static str,
    version: &'static str,
}

const PACKAGES: [Package; 2] = [
    Package {
        venv: "pyvenv-diskcache-5.6.3",
        pip: "diskcache==5.6.3",
        module: "diskcache",
        version: "5.6.3",
    },
    Package {
        venv: "pyvenv-diskcache-community",
        pip: "diskcache-community",
        module: "diskcache_community",
        version: "5.",
    },
];

/// Each package's python, or none without python3.
fn pythons() -> Result<Vec<(Package, PathBuf)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for p in PACKAGES {
        match interop::python_with(p.venv, p.pip, p.module, p.version)? {
            Some(py) => out.push((p, py)),
            None => return Ok(Vec::new()),
        }
    }
    Ok(out)
}

fn command(py: &Path, p: Package, mode: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(py);
    cmd.env("DISKCACHE_MODULE", p.module)
        .arg(SCRIPT)
        .arg(mode)
        .arg(dir);
    cmd
}

/// Runs `parity.py MODE DIR` with package `p`; its stdout.
fn run(
    py: &Path,
    p: Package,
    mode: &str,
    dir: &Path,
) -> Result<String, Box<dyn std::error::Error>> {
    let out = command(py, p, mode, dir).output()?;
    assert!(
        out.status.success(),
        "{} {mode} failed:\n{}",
        p.module,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

fn soon() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3000)
}

#[test]
fn caches_with_expiry_tags_and_queues_cross_both_ways() -> TestResult {
    for (p, py) in pythons()? {
        let dir = tempfile::tempdir()?;
        run(&py, p, "basic-write", dir.path())?;
        let cache = Cache::open(dir.path())?;
        assert_eq!(cache.get::<Vec<u8>>("bytes")?, Some(vec![0, 255]), "{p:?}");
        assert_eq!(cache.get::<String>("text")?.as_deref(), Some("téxt"));
        assert_eq!(cache.get::<i64>(&-1)?, Some(2));
        assert_eq!(cache.get::<f64>(&-0.5)?, Some(1.25));
        let e = cache.get_entry::<String>("tagged")?.ok_or("missing")?;
        assert_eq!(e.tag, Some(Key::Text("grp".into())));
        assert!(e.expire_time.ok_or("no expiry")? > soon());
        assert_eq!(cache.get::<i64>("expiring")?, None);
        let (key, e) = cache
            .peek_entry::<String>(Some("jobs"), Side::Front)?
            .ok_or("empty")?;
        assert_eq!(key, Key::Text("jobs-500000000000000".into()));
        assert_eq!(
            (e.value.as_str(), e.tag),
            ("a", Some(Key::Text("qt".into())))
        );
        let (_, e) = cache
            .pull_entry::<String>(Some("jobs"), Side::Front)?
            .ok_or("empty")?;
        assert!(e.expire_time.ok_or("no expiry")? > soon());
        assert_eq!(
            cache.pull::<String>(Some("jobs"), Side::Front)?,
            Some((Key::Text("jobs-500000000000001".into()), "b".into()))
        );
        assert_eq!(
            cache.pull::<i64>(None, Side::Front)?,
            Some((Key::Int(499_999_999_999_999), 11))
        );
        assert_eq!(
            cache.pull::<i64>(None, Side::Back)?,
            Some((Key::Int(500_000_000_000_000), 10))
        );
        let (_, popped) = cache.peekitem_entry::<Vec<u8>>(false)?.ok_or("empty")?;
        assert_eq!(popped.value, vec![0, 255]);

        let opts = SetOptions::new()
            .expire(Duration::from_secs(3600))
            .tag("rt");
        cache.set("from-rust", b"\x01\x02".as_slice())?;
        cache.set("rust-text", "ré")?;
        cache.set(&-3, &4)?;
        cache.set(&-1.5, &0.25)?;
        cache.set_with("rust-tagged", "w", &opts)?;
        cache.set_with(
            "rust-expired",
            &1,
            &SetOptions::new().expire(Duration::from_millis(1)),
        )?;
        let q = SetOptions::new()
            .expire(Duration::from_secs(3600))
            .tag("rq");
        cache.push_with(&"first", Some("rjobs"), Side::Back, &q)?;
        cache.push(&"second", Some("rjobs"), Side::Back)?;
        cache.push(&20, None, Side::Back)?;
        cache.push(&21, None, Side::Back)?;
        cache.push(&19, None, Side::Front)?;
        // After the Python pulls above, the plain queue holds 20 and 21
        // at 500000000000000 and 500000000000001, and 19 before them.
        cache.set_with("g1", &1, &SetOptions::new().tag("rgrp"))?;
        cache.set_with("g2", &2, &SetOptions::new().tag("rgrp"))?;
        std::thread::sleep(Duration::from_millis(20));
        drop(cache);
        run(&py, p, "basic-read", dir.path())?;
    }
    Ok(())
}

#[test]
fn fanout_caches_cross_both_ways_with_pythons_hash() -> TestResult {
    for (p, py) in pythons()? {
        let dir = tempfile::tempdir()?;
        run(&py, p, "fanout-write", dir.path())?;
        let cache = FanoutCache::open(dir.path())?;
        assert_eq!(cache.shard_hash(), ShardHash::Adler32, "{p:?}");
        assert_eq!(cache.shards().len(), 4);
        for i in 0..40 {
            let e = cache
                .pop_entry::<i64>(format!("py-{i}").as_str())?
                .ok_or("missing")?;
            assert_eq!(e.value, i * 3);
            let tag = (i % 2 == 1).then(|| Key::Text("py".into()));
            assert_eq!(e.tag, tag);
        }
        for i in 0..40 {
            let tag = if i % 2 == 0 { "rs" } else { "other" };
            cache.set_with(
                format!("rs-{i}").as_str(),
                &format!("v{i}"),
                &SetOptions::new().tag(tag),
            )?;
        }
        cache.set_with(
            "rs-expired",
            &1,
            &SetOptions::new().expire(Duration::from_millis(1)),
        )?;
        std::thread::sleep(Duration::from_millis(20));
        drop(cache);
        run(&py, p, "fanout-read", dir.path())?;
    }
    Ok(())
}

#[test]
fn deques_and_indexes_cross_both_ways() -> TestResult {
    for (p, py) in pythons()? {
        let dir = tempfile::tempdir()?;
        run(&py, p, "deque-write", dir.path())?;
        let deque: Deque<String> = Deque::open(dir.path())?;
        let items: Vec<String> = deque.iter().collect::<Result<_, _>>()?;
        assert_eq!(items, ["z", "a", "b", "c"], "{p:?}");
        assert_eq!(deque.pop_left()?.as_deref(), Some("z"));
        assert_eq!(deque.pop_left()?.as_deref(), Some("a"));
        deque.append(&"r1".to_string())?;
        deque.append(&"r2".to_string())?;
        drop(deque);
        run(&py, p, "deque-read", dir.path())?;

        let dir = tempfile::tempdir()?;
        run(&py, p, "index-write", dir.path())?;
        type V = serde_json::Value;
        let index: Index<V, V> = Index::open(dir.path())?;
        let keys: Vec<V> = index.keys().collect::<Result<_, _>>()?;
        assert_eq!(
            keys,
            [
                serde_json::json!("one"),
                serde_json::json!(2),
                serde_json::json!("three")
            ]
        );
        assert_eq!(
            index.get(&serde_json::json!(2))?,
            Some(serde_json::json!("two"))
        );
        assert_eq!(
            index.get(&serde_json::json!("three"))?,
            Some(serde_json::json!(3.0))
        );
        assert!(index.remove(&serde_json::json!(2))?);
        let cache = index.cache().clone();
        cache.set("four", &4)?;
        cache.set(&5, "five")?;
        drop(index);
        drop(cache);
        run(&py, p, "index-read", dir.path())?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Doc {
    name: String,
    id: u32,
    ratio: f64,
    big: f64,
    tiny: f64,
    neg: i64,
    ok: bool,
    no: bool,
    none: Option<i64>,
    tags: Vec<String>,
    nested: Nested,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Nested {
    a: (i64, f64, Option<i64>, Vec<bool>),
    b: BTreeMap<String, i64>,
}

fn doc() -> Doc {
    Doc {
        name: "ada".into(),
        id: 7,
        ratio: 0.1,
        big: 1e16,
        tiny: 1.5e-7,
        neg: -2,
        ok: true,
        no: false,
        none: None,
        tags: vec!["x".into(), "yé".into(), "\u{1F600}".into()],
        nested: Nested {
            a: (1, 2.5, None, vec![true]),
            b: BTreeMap::new(),
        },
    }
}

/// The same pseudo-random strings as parity.py's `lcg_hex`.
fn big() -> Vec<String> {
    let mut x: u64 = 12345;
    (0..6000)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            format!("{x:016x}")
        })
        .collect()
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct User {
    name: String,
    id: u32,
    tags: Vec<String>,
    score: f64,
}

/// Checks every item parity.py's JSONDisk wrote, keys written from Rust
/// types that python's json module would read as the same values.
fn check_json_items(cache: &Cache) -> TestResult {
    use serde_json::json;
    type V = serde_json::Value;
    assert_eq!(cache.get::<String>("str-key")?.as_deref(), Some("text é"));
    assert_eq!(cache.get::<i64>(&7)?, Some(42));
    assert_eq!(cache.get::<f64>(&2.5)?, Some(-0.125));
    assert_eq!(cache.get::<bool>(&true)?, Some(false));
    // A JSON null value reads as None, whatever is stored: get a Value.
    assert_eq!(cache.get::<V>(&())?, Some(V::Null));
    assert_eq!(
        cache.get::<V>(&("list", 1, 2.0, ()))?,
        Some(json!([1, [2, [3]]]))
    );
    #[derive(Serialize)]
    struct K {
        k: (i64, BTreeMap<String, ()>),
        a: i64,
    }
    let mut z = BTreeMap::new();
    z.insert("z".to_string(), ());
    assert_eq!(cache.get::<Doc>(&K { k: (1, z), a: 1 })?, Some(doc()));
    assert_eq!(cache.get::<Vec<String>>("big")?, Some(big()));
    let file = cache.read("big")?.ok_or("missing")?;
    assert!(file.path().is_some(), "big is in a file");
    Ok(())
}

#[test]
fn json_disk_keys_and_values_cross_both_ways() -> TestResult {
    for (p, py) in pythons()? {
        let dir = tempfile::tempdir()?;
        run(&py, p, "json-write", dir.path())?;
        let one = Cache::builder()
            .codec(Codec::json())
            .open(dir.path().join("one"))?;
        check_json_items(&one)?;
        let e = one
            .get_entry::<BTreeMap<String, i64>>("tagged")?
            .ok_or("missing")?;
        assert_eq!(e.tag, Some(Key::Text("jt".into())));
        assert!(e.expire_time.ok_or("no expiry")? > soon());
        let (key, job) = one
            .pull::<BTreeMap<String, i64>>(Some("jq"), Side::Front)?
            .ok_or("empty")?;
        assert_eq!(key, Key::Text("jq-500000000000000".into()));
        assert_eq!(job.get("job"), Some(&1));
        // Rust writes: python's dict for a struct, a counter.
        one.set(
            &("rust", 1),
            &User {
                name: "ada".into(),
                id: 7,
                tags: vec!["x".into()],
                score: 0.5,
            },
        )?;
        assert_eq!(one.incr("rust-incr", 5, Some(0))?, 5);
        // Rust rewrites python's items: python must read them back the same.
        one.set("str-key", "text é")?;
        one.set("big", &big())?;
        drop(one);

        let nine = Cache::builder()
            .codec(Codec::Json { level: 9 })
            .open(dir.path().join("nine"))?;
        check_json_items(&nine)?;
        nine.set("rust-nine", &[9])?;
        drop(nine);

        let fan = FanoutCache::builder()
            .cache(CacheBuilder::new().codec(Codec::json()))
            .open(dir.path().join("fan"))?;
        assert_eq!(fan.shard_hash(), ShardHash::Adler32);
        for i in 0..30 {
            let mut want = BTreeMap::new();
            want.insert("i".to_string(), i);
            assert_eq!(fan.pop::<BTreeMap<String, i64>>(&("py", i))?, Some(want));
            let mut value = BTreeMap::new();
            value.insert("i", i * 2);
            assert!(fan.set(&("rs", i), &value)?);
        }
        drop(fan);
        run(&py, p, "json-read", dir.path())?;
    }
    Ok(())
}

#[test]
fn zlib_output_is_pythons_at_every_level() -> TestResult {
    let Some((p, py)) = pythons()?.into_iter().next() else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let lines = run(&py, p, "json-level", dir.path())?;
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 10);
    for (level, want) in (0u32..).zip(lines) {
        let cache = Cache::builder().codec(Codec::Json { level }).open_temp()?;
        let Key::Bytes(got) = cache.encode_key(&big())? else {
            return Err("not bytes".into());
        };
        let got: String = got.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            got == want,
            "level {level}: zlib output differs from python's"
        );
    }
    Ok(())
}

#[test]
fn python_and_rust_increment_push_and_pull_at_the_same_time() -> TestResult {
    const HAMMER: usize = 1500;
    for (p, py) in pythons()? {
        let dir = tempfile::tempdir()?;
        let cache = Cache::builder()
            .timeout(Duration::from_secs(60))
            .open(dir.path())?;
        let out = dir.path().join("python-pulled.json");
        let mut child = command(&py, p, "hammer", dir.path()).arg(&out).spawn()?;
        let mut pulled = Vec::new();
        for i in 0..HAMMER {
            cache.incr("counter", 1, Some(0))?;
            cache.push(&format!("rs-{i}"), Some("work"), Side::Back)?;
        }
        let status = loop {
            while let Some((_, v)) = cache.pull::<String>(Some("work"), Side::Front)? {
                pulled.push(v);
            }
            if let Some(status) = child.try_wait()? {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(status.success(), "{} hammer failed", p.module);
        while let Some((_, v)) = cache.pull::<String>(Some("work"), Side::Front)? {
            pulled.push(v);
        }
        let theirs: Vec<String> = serde_json::from_slice(&std::fs::read(&out)?)?;
        assert_eq!(
            cache.get::<i64>("counter")?,
            Some(2 * HAMMER as i64),
            "{p:?}"
        );
        let mut all: Vec<String> = pulled.into_iter().chain(theirs).collect();
        all.sort();
        let mut want: Vec<String> = (0..HAMMER)
            .flat_map(|i| [format!("py-{i}"), format!("rs-{i}")])
            .collect();
        want.sort();
        assert_eq!(all.len(), want.len(), "an item pulled twice or lost");
        assert!(all == want, "the pulled items differ from the pushed ones");
        assert!(cache.check(false)?.is_clean());
    }
    Ok(())
}
