//! Read memos that catch up through the commit feed agree with SQLite:
//! one handle writes at random (every kind of write, transactions, culls,
//! a float key naming an integer one, now and then another OS process or
//! a handle without the memo, which records nothing in the feed), and after
//! each write a handle with the memo reads every key twice (the second
//! read answered from its memo) and gets exactly what the handle without
//! the memo reads.

use std::process::Command;
use std::time::Duration;

use diskcache_shard::{Cache, CacheBuilder, SetOptions};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");
const TEXT_KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const INT_KEYS: [i64; 3] = [1, 2, 3];

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Every key read by `memo` twice agrees with `truth`.
fn agree(memo: &Cache, truth: &Cache, step: usize, what: &str) -> TestResult {
    for _ in 0..2 {
        for key in TEXT_KEYS {
            let (got, want) = (memo.get::<i64>(key)?, truth.get::<i64>(key)?);
            assert_eq!(got, want, "key {key:?} after step {step} ({what})");
        }
        for key in INT_KEYS {
            let (got, want) = (memo.get::<i64>(&key)?, truth.get::<i64>(&key)?);
            assert_eq!(got, want, "key {key} after step {step} ({what})");
        }
    }
    Ok(())
}

/// One random write by `writer` (or by `memo` itself, by `silent`, which
/// records nothing in the feed, or by another process).
fn write(
    rng: &mut Rng,
    dir: &std::path::Path,
    [writer, memo, silent]: [&Cache; 3],
) -> TestResult<String> {
    let key = TEXT_KEYS[rng.below(TEXT_KEYS.len() as u64) as usize];
    let other = TEXT_KEYS[rng.below(TEXT_KEYS.len() as u64) as usize];
    let int = INT_KEYS[rng.below(INT_KEYS.len() as u64) as usize];
    let value = rng.below(1000) as i64;
    let what = match rng.below(17) {
        0 | 1 => {
            writer.set(key, &value)?;
            format!("set {key}")
        }
        2 => {
            writer.set(&int, &value)?;
            format!("set {int}")
        }
        3 => {
            writer.set_with(key, &value, &SetOptions::new().expire(Duration::ZERO))?;
            format!("set {key} expired")
        }
        4 => {
            writer.set_with(key, &value, &SetOptions::new().tag("t"))?;
            format!("set {key} tagged")
        }
        5 => {
            writer.delete(key)?;
            format!("delete {key}")
        }
        6 => {
            writer.incr(key, 3, Some(0))?;
            format!("incr {key}")
        }
        7 => {
            writer.pop::<i64>(key)?;
            format!("pop {key}")
        }
        8 => {
            writer.add(key, &value)?;
            format!("add {key}")
        }
        9 => {
            writer.touch(key, Some(Duration::ZERO))?;
            format!("touch {key}")
        }
        10 => {
            writer.evict("t")?;
            "evict t".into()
        }
        11 => {
            writer.transact(|| -> diskcache_shard::Result<()> {
                writer.set(key, &value)?;
                writer.delete(other)?;
                writer.incr(&int, 1, Some(0))?;
                Ok(())
            })?;
            format!("transact set {key} delete {other} incr {int}")
        }
        12 => {
            writer.set(&(int as f64), &value)?;
            format!("set {int}.0")
        }
        13 => {
            memo.set(key, &value)?;
            format!("own set {key}")
        }
        15 => {
            silent.set(key, &value)?;
            format!("set {key} unrecorded")
        }
        14 => {
            let status = Command::new(HELPER)
                .args([
                    "set",
                    dir.to_str().unwrap_or_default(),
                    key,
                    &value.to_string(),
                ])
                .status()?;
            assert!(status.success(), "helper failed: {status}");
            format!("process set {key}")
        }
        _ => {
            if rng.below(4) == 0 {
                writer.clear()?;
                "clear".into()
            } else {
                writer.expire()?;
                "expire".into()
            }
        }
    };
    Ok(what)
}

fn run(builder: impl Fn() -> CacheBuilder, seed: u64) -> TestResult {
    let dir = tempfile::tempdir()?;
    let memo = builder().open(dir.path())?;
    let writer = builder().open(dir.path())?;
    let truth = builder().memo_bytes(0).open(dir.path())?;
    let mut rng = Rng(seed);
    for key in TEXT_KEYS {
        writer.set(key, &0_i64)?;
    }
    agree(&memo, &truth, 0, "fill")?;
    for step in 1..=300 {
        let what = write(&mut rng, dir.path(), [&writer, &memo, &truth])?;
        agree(&memo, &truth, step, &what)?;
    }
    Ok(())
}

#[test]
fn a_memo_agrees_with_sqlite_under_random_writes_of_others() -> TestResult {
    run(Cache::builder, 0x9e37_79b9_7f4a_7c15)
}

#[test]
fn a_memo_agrees_with_sqlite_while_every_write_culls() -> TestResult {
    // A limit far below the database's own size: every write culls the
    // oldest entry.
    run(
        || Cache::builder().size_limit(1).cull_limit(1),
        0x2545_f491_4f6c_dd1d,
    )
}
