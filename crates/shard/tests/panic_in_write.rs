//! A panic inside a write (here, a value type whose `Deserialize` panics,
//! read by `pop`, `pull` and `peek`) rolls the transaction back and
//! releases the write lock: other handles write at once, this handle's
//! next write works, and the entry read is still there.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use diskcache_shard::{Cache, Side};
use serde::{Deserialize, Deserializer};

/// A value that panics when decoded.
struct Boom;

impl<'de> Deserialize<'de> for Boom {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("decoding panicked");
    }
}

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// After a panic in `f`, another handle with a short timeout writes, and
/// so does `cache`.
fn survives(name: &str, cache: &Cache, other: &Cache, f: impl FnOnce(&Cache)) -> Res {
    let unwound = catch_unwind(AssertUnwindSafe(|| f(cache)));
    assert!(unwound.is_err(), "{name} did not panic");
    other.set(&format!("other-after-{name}"), &1)?;
    cache.set(&format!("after-{name}"), &1)?;
    // A read-only call afterwards does not keep the lock either.
    assert!(cache.contains("kept")?);
    other.set(&format!("other-after-read-{name}"), &1)?;
    Ok(())
}

#[test]
fn a_panic_while_decoding_inside_a_write_rolls_back_and_unlocks() -> Res {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    let other = Cache::builder()
        .timeout(Duration::from_millis(200))
        .open(dir.path())?;
    cache.set("kept", &vec![1u8, 2, 3])?;
    cache.push(&"item", Some("q"), Side::Back)?;
    survives("pop", &cache, &other, |c| {
        let _ = c.pop::<Boom>("kept");
    })?;
    survives("pull", &cache, &other, |c| {
        let _ = c.pull::<Boom>(Some("q"), Side::Front);
    })?;
    survives("peek", &cache, &other, |c| {
        let _ = c.peek::<Boom>(Some("q"), Side::Back);
    })?;
    survives("transact", &cache, &other, |c| {
        let _ = c.transact(|| -> diskcache_shard::Result<()> {
            c.set("inside", &1)?;
            panic!("the closure panicked");
        });
    })?;
    // Nothing the panicking writes touched was lost or half-done.
    assert_eq!(cache.get::<Vec<u8>>("kept")?, Some(vec![1, 2, 3]));
    assert!(!cache.contains("inside")?);
    let pulled = cache.pull::<String>(Some("q"), Side::Front)?;
    assert_eq!(pulled.map(|(_, v)| v).as_deref(), Some("item"));
    assert!(cache.check(false)?.is_clean());
    Ok(())
}
