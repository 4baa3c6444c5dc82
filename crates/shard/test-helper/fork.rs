//! The helper's commands that fork (see the crate's tests/fork_*.rs).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diskcache_shard::{Cache, Error};

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// `fork()`, as a result.
#[allow(unsafe_code)]
fn fork() -> Res<i32> {
    // SAFETY: fork has no preconditions; the child of a multi-threaded
    // parent only uses this crate (which guards its own state across fork)
    // and leaves with `_exit` or by returning from a single-threaded main.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(pid)
}

/// Leaves the process at once, running no destructors or atexit handlers.
#[allow(unsafe_code)]
fn exit_now(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Waits for the child `pid`; its exit code, or 128 + the signal.
#[allow(unsafe_code)]
fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waiting for a child this process made, into a local.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    if waited != pid {
        return -1;
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

fn say(line: &str) -> Res {
    let mut out = std::io::stdout();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// `daemon <dir> <n>`: set and get, fork; the parent drops its handle and
/// returns from main at once; the child increments `n` `n` times, prints
/// `acked <n>` and `ready`, then waits (at most 10 s) for the key `ping`
/// that another process sets, prints `saw ping` and sets `pong`.
pub fn daemon(dir: &str, n: i64) -> Res {
    let cache = Cache::open(dir)?;
    cache.set("n", &0)?;
    assert_eq!(cache.get::<i64>("n")?, Some(0));
    if fork()? > 0 {
        drop(cache);
        return Ok(());
    }
    let mut acked = 0;
    for _ in 0..n {
        cache.incr("n", 1, Some(0))?;
        acked += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    say(&format!("acked {acked}"))?;
    say("ready")?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if cache.get::<i64>("ping")?.is_some() {
            say("saw ping")?;
            cache.set("pong", &1)?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    say("no ping")?;
    Ok(())
}

/// `fork-busy <dir> <children>`: while another thread writes in a loop,
/// forks `children` children one after another; each sets `child-<i>`
/// and reads it back. Prints `slow <i>` for a child that took over 2 s
/// and `failed <i>` for one that failed; exits 1 if any did.
pub fn busy(dir: &str, children: u32) -> Res {
    let cache = Cache::builder()
        .timeout(Duration::from_secs(10))
        .open(dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (cache, stop) = (cache.clone(), Arc::clone(&stop));
        std::thread::spawn(move || -> Result<u64, Error> {
            let value = vec![1u8; 200];
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 10_000_000 {
                cache.set(&format!("t{}", i % 500), &value)?;
                i += 1;
            }
            Ok(i)
        })
    };
    let mut bad = 0;
    for c in 0..children {
        std::thread::sleep(Duration::from_millis(5));
        let pid = fork()?;
        if pid == 0 {
            let started = Instant::now();
            let ok = cache.set(&format!("child-{c}"), &i64::from(c)).is_ok()
                && matches!(cache.get::<i64>(&format!("child-{c}")), Ok(Some(v)) if v == i64::from(c));
            let code = match (ok, started.elapsed() < Duration::from_secs(2)) {
                (true, true) => 0,
                (true, false) => 2,
                (false, _) => 1,
            };
            exit_now(code);
        }
        match wait(pid) {
            0 => {}
            2 => {
                say(&format!("slow {c}"))?;
                bad += 1;
            }
            code => {
                say(&format!("failed {c} ({code})"))?;
                bad += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().map_err(|_| "the writer panicked")??;
    say(&format!("writes {writes}"))?;
    if bad > 0 {
        return Err(format!("{bad} of {children} children failed").into());
    }
    Ok(())
}

/// `fork-transact <dir>`: forks inside `transact` after setting
/// `parent-in`. The child's `set("child-in")` inside, and `transact`
/// itself, must fail with `ForkedTransaction`; after it the child sets
/// `child-after`. The parent commits and waits for the child, whose exit
/// code it passes on.
pub fn transact(dir: &str) -> Res {
    let cache = Cache::open(dir)?;
    let mut inside = None;
    let result = cache.transact(|| {
        cache.set("parent-in", &1)?;
        let pid = fork().map_err(|e| Error::InvalidInput {
            message: e.to_string(),
        })?;
        if pid == 0 {
            inside = Some(cache.set("child-in", &2));
        }
        Ok::<_, Error>(pid)
    });
    let Some(inside) = inside else {
        // The parent.
        let pid = result?;
        let code = wait(pid);
        if code != 0 {
            return Err(format!("the child exited with {code}").into());
        }
        return Ok(());
    };
    let mut failures = Vec::new();
    if !matches!(inside, Err(Error::ForkedTransaction)) {
        failures.push(format!("set inside the parent's transaction: {inside:?}"));
    }
    if !matches!(result, Err(Error::ForkedTransaction)) {
        failures.push(format!("transact in the child: {result:?}"));
    }
    if let Err(e) = cache.set("child-after", &3) {
        failures.push(format!("set after the transaction: {e}"));
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    exit_now(i32::from(!failures.is_empty()));
}

/// `fd-limit <dir> <threads>`: after a first set, lowers this process's
/// limit of open files to what it has open plus one, then runs `threads`
/// threads that each set and get a key of their own in a transaction
/// held for 20 ms, all at the same moment.
/// Prints `ok <i> <millis>` or `error <i> <millis> <error>` for each.
#[allow(unsafe_code)]
pub fn fd_limit(dir: &str, threads: usize) -> Res {
    let cache = Cache::open(dir)?;
    cache.set("first", &1)?;
    let open = std::fs::read_dir("/proc/self/fd")?.count() as u64;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct passed by reference.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    limit.rlim_cur = open + 1;
    // SAFETY: setrlimit reads the struct passed by reference.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let start = Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let (cache, start) = (cache.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                // Each holds its connection a while, so that all need one.
                let done = cache.transact(|| {
                    cache.set(&format!("t{i}"), &i64::try_from(i).unwrap_or(0))?;
                    std::thread::sleep(Duration::from_millis(20));
                    cache.get::<i64>(&format!("t{i}"))
                });
                (i, began.elapsed(), done)
            })
        })
        .collect();
    for handle in handles {
        let (i, took, done) = handle.join().map_err(|_| "a thread panicked")?;
        match done {
            Ok(_) => say(&format!("ok {i} {}", took.as_millis()))?,
            Err(e) => say(&format!("error {i} {} {e}", took.as_millis()))?,
        }
    }
    Ok(())
}
