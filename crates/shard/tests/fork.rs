//! A handle used in a child after fork opens its own connections.
#![allow(unsafe_code)]

use diskcache_shard::Cache;

#[test]
fn a_forked_child_reconnects_and_its_writes_land() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path())?;
    cache.set("parent", &1)?;
    assert_eq!(cache.get::<i32>("parent")?, Some(1)); // the pool now holds a connection
    // SAFETY: this test binary runs this single test; the child only uses
    // the cache and then leaves with _exit, running no destructors.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = cache.get::<i32>("parent").ok() == Some(Some(1))
            && cache.set("child", &2).is_ok()
            && cache.incr("n", 1, Some(0)).is_ok();
        // SAFETY: leaving the child without unwinding into the test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert!(pid > 0, "fork failed");
    let mut status = 0;
    // SAFETY: waiting for the child this test created.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    // The parent's connections still work and see the child's writes.
    assert_eq!(cache.get::<i32>("child")?, Some(2));
    assert_eq!(cache.incr("n", 1, Some(0))?, 2);
    assert!(cache.check(false)?.is_clean());
    Ok(())
}
