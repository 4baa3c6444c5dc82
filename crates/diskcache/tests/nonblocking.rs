//! The async handles (feature `tokio`): every call through them, on a
//! multi-thread runtime, and proof that a waiting call leaves the runtime's
//! thread free.
#![cfg(feature = "tokio")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diskcache::nonblocking::{AsyncCache, AsyncDiskCache, AsyncFanoutCache, AsyncLock};
use diskcache::recipes::Lock;
use diskcache::{Cache, CacheBuilder, DiskCache, Error, FanoutCache, Result, SetOptions};
use tempfile::tempdir;

fn io(e: std::io::Error) -> Error {
    Error::io("test", e)
}

async fn every_call<S: diskcache::nonblocking::Backend>(cache: AsyncDiskCache<S>) -> Result<()> {
    assert!(cache.is_empty().await?);
    cache.set("a", 1).await?;
    cache
        .set_with("t", "tagged", SetOptions::new().tag("tag"))
        .await?;
    cache.set(&("user", 7), vec![1u8, 2, 3]).await?;
    assert_eq!(cache.get::<i64>("a").await?, Some(1));
    assert_eq!(
        cache.get::<Vec<u8>>(&("user", 7)).await?,
        Some(vec![1, 2, 3])
    );
    assert_eq!(cache.get::<i64>("missing").await?, None);
    let entry = cache
        .get_entry::<String>("t")
        .await?
        .ok_or(Error::NotFound)?;
    assert_eq!(entry.value, "tagged");
    assert!(cache.contains("a").await?);
    assert!(!cache.add("a", 2).await?);
    assert!(cache.add("b", 2).await?);
    assert_eq!(cache.incr("n", 5, Some(0)).await?, 5);
    assert_eq!(cache.decr("n", 2, None).await?, 3);
    assert_eq!(cache.pop::<i64>("b").await?, Some(2));
    assert!(cache.delete("a").await?);
    assert!(!cache.delete("a").await?);
    assert_eq!(cache.len().await?, 3);
    assert!(cache.volume().await? > 0);
    assert_eq!(cache.evict("tag").await?, 1);
    cache
        .set_with("old", 1, SetOptions::new().expire(Duration::from_millis(1)))
        .await?;
    assert!(cache.touch("n", None).await?);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(cache.expire().await?, 1);
    assert_eq!(cache.cull().await?, 0);
    let n = cache
        .transact(|c| {
            c.set("x", &1)?;
            c.set("y", &2)?;
            c.len()
        })
        .await?;
    assert_eq!(n, 4);
    // A failing transaction keeps nothing.
    let failed = cache
        .transact(|c| -> Result<()> {
            c.set("z", &3)?;
            Err(Error::NotFound)
        })
        .await;
    assert!(matches!(failed, Err(Error::NotFound)));
    assert!(!cache.contains("z").await?);
    let updated = cache.transact_on("x", |c| c.incr("x", 1, None)).await?;
    assert_eq!(updated, 2);

    let computed = Arc::new(AtomicU64::new(0));
    for _ in 0..3 {
        let computed = computed.clone();
        let v: String = cache
            .get_or_insert_with("page", || async move {
                computed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
                "<html>".to_string()
            })
            .await?;
        assert_eq!(v, "<html>");
    }
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    let failed: std::result::Result<u32, Error> = cache
        .try_get_or_insert_with("nothing", || async { Err(Error::NotFound) })
        .await;
    assert!(matches!(failed, Err(Error::NotFound)));
    assert!(!cache.contains("nothing").await?);

    let left = cache.len().await?;
    assert_eq!(cache.clear().await?, left);
    assert!(cache.is_empty().await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_on_a_cache() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    every_call(AsyncCache::open(dir.path()).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_on_a_fanout_cache() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    every_call(AsyncFanoutCache::open(dir.path()).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_encoded_with_the_cache_codec() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    let sync = Cache::builder()
        .codec(diskcache::Codec::json())
        .open(dir.path())?;
    let cache = AsyncCache::new(sync.clone());
    cache.set(&("k", 1), vec![1.5, 2.0]).await?;
    assert_eq!(sync.get::<Vec<f64>>(&("k", 1))?, Some(vec![1.5, 2.0]));
    sync.set("from-sync", &"v")?;
    assert_eq!(
        cache.get::<String>("from-sync").await?.as_deref(),
        Some("v")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_lock_is_a_timeout_through_the_async_handle() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    let cache = AsyncCache::new(
        CacheBuilder::new()
            .timeout(Duration::from_millis(20))
            .open(dir.path())?,
    );
    cache.set("k", 1).await?;
    let _held = hold(&dir.path().join("cache.db"))?;
    assert!(matches!(
        cache.set("k", 2).await,
        Err(Error::Timeout { .. })
    ));
    // Reads never wait for writers.
    assert_eq!(cache.get::<i64>("k").await?, Some(1));
    Ok(())
}

/// A second connection holding the write lock of `db`.
fn hold(db: &Path) -> Result<rusqlite::Connection> {
    let sqlite = |e: rusqlite::Error| Error::InvalidInput {
        message: e.to_string(),
    };
    let conn = rusqlite::Connection::open(db).map_err(sqlite)?;
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite)?;
    Ok(conn)
}

/// Holds `db`'s write lock from another thread for `ms` milliseconds; the
/// returned thread ends when the lock is given back.
fn hold_for(db: &Path, ms: u64) -> Result<std::thread::JoinHandle<()>> {
    let conn = hold(db)?;
    Ok(std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        let _ = conn.execute_batch("ROLLBACK");
    }))
}

/// A task that counts milliseconds on the runtime it is spawned on.
fn ticker(ticks: &Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    let ticks = ticks.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(1));
        loop {
            interval.tick().await;
            ticks.fetch_add(1, Ordering::SeqCst);
        }
    })
}

#[test]
fn a_write_waiting_for_a_busy_lock_leaves_the_runtime_thread_free() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    let db = dir.path().join("cache.db");
    let sync = Cache::open(dir.path())?;
    let cache = AsyncCache::new(sync.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    runtime.block_on(async {
        let ticks = Arc::new(AtomicU64::new(0));
        let ticking = ticker(&ticks);
        tokio::time::sleep(Duration::from_millis(5)).await;

        // Through the async handle: the write waits ~200 ms on the
        // blocking pool while the one runtime thread keeps ticking.
        let holder = hold_for(&db, 200)?;
        let before = ticks.load(Ordering::SeqCst);
        cache.set("k", 1).await?;
        let during = ticks.load(Ordering::SeqCst) - before;
        let _ = holder.join();
        assert!(during >= 50, "the ticker advanced only {during} times");

        // The sync call made on the runtime thread stalls it: the ticker
        // cannot run until the write is done.
        let holder = hold_for(&db, 200)?;
        tokio::task::yield_now().await;
        let before = ticks.load(Ordering::SeqCst);
        sync.set("k", &2)?;
        let stalled = ticks.load(Ordering::SeqCst) - before;
        let _ = holder.join();
        assert!(
            stalled <= 1,
            "the ticker ran {stalled} times during a blocking call"
        );

        ticking.abort();
        assert_eq!(cache.get::<i64>("k").await?, Some(2));
        Ok(())
    })
}

#[test]
fn a_long_clear_leaves_the_runtime_thread_free() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    let fanout = FanoutCache::builder().shards(2).open(dir.path())?;
    for i in 0..2_000u32 {
        DiskCache::set(&fanout, &i, &i)?;
    }
    let cache = AsyncFanoutCache::new(fanout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    runtime.block_on(async {
        let ticks = Arc::new(AtomicU64::new(0));
        let ticking = ticker(&ticks);
        // Keep one shard busy so that the clear has to wait as well.
        let holder = hold_for(&dir.path().join("000").join("cache.db"), 100)?;
        let before = ticks.load(Ordering::SeqCst);
        assert_eq!(cache.clear().await?, 2_000);
        let during = ticks.load(Ordering::SeqCst) - before;
        let _ = holder.join();
        assert!(during >= 20, "the ticker advanced only {during} times");
        ticking.abort();
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_lock_excludes_tasks_and_sync_locks() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    let cache = AsyncCache::open(dir.path()).await?;
    let lock = AsyncLock::new(cache.clone(), "job");
    let guard = lock.acquire().await?;
    assert!(lock.locked().await?);
    assert!(lock.try_acquire().await?.is_none());
    // The sync recipe sees the same hold.
    let sync_lock = Lock::new(cache.sync().clone(), "job");
    assert!(sync_lock.try_acquire()?.is_none());
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(20)).await,
        Err(Error::WaitTimeout { .. })
    ));

    // A waiter on another task gets it once the guard (moved to a third
    // task) is dropped there.
    let waiter = {
        let lock = lock.clone();
        tokio::spawn(async move { lock.acquire_timeout(Duration::from_secs(10)).await })
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(guard);
    })
    .await
    .map_err(|e| Error::io("join", std::io::Error::other(e)))?;
    let second = waiter
        .await
        .map_err(|e| Error::io("join", std::io::Error::other(e)))??;
    second.release().await?;
    assert!(!lock.locked().await?);

    // And the other way round: a sync hold blocks the async lock.
    let held = sync_lock.acquire()?;
    assert!(lock.try_acquire().await?.is_none());
    drop(held);
    assert!(lock.try_acquire().await?.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hold_is_not_held_on_release() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    let cache = AsyncCache::open(dir.path()).await?;
    let lock = AsyncLock::new(cache, "short").expire(Duration::from_millis(10));
    let guard = lock.acquire().await?;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let other = lock.try_acquire().await?;
    assert!(other.is_some());
    assert!(matches!(guard.release().await, Err(Error::NotHeld { .. })));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_compute_once_under_the_lock() -> Result<()> {
    let dir = tempdir().map_err(io)?;
    let cache = AsyncFanoutCache::open(dir.path()).await?;
    let lock = AsyncLock::new(cache.clone(), "compute").expire(Duration::from_secs(30));
    let computed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let lock = lock.clone();
        let computed = computed.clone();
        tasks.push(tokio::spawn(async move {
            lock.get_or_insert_with("answer", || async move {
                computed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                42u64
            })
            .await
        }));
    }
    for task in tasks {
        let v = task
            .await
            .map_err(|e| Error::io("join", std::io::Error::other(e)))??;
        assert_eq!(v, 42);
    }
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    assert!(!lock.locked().await?);
    assert_eq!(cache.get::<u64>("answer").await?, Some(42));
    Ok(())
}

#[test]
fn a_call_outside_a_runtime_is_an_error_not_a_panic() -> Result<()> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let dir = tempdir().map_err(io)?;
    let cache = AsyncCache::new(Cache::open(dir.path())?);
    let mut call = std::pin::pin!(cache.len());
    let polled = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(polled, Poll::Ready(Err(Error::Io { .. }))),
        "{polled:?}"
    );
    Ok(())
}
