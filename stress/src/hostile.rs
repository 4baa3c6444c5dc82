//! Hostile filesystems under load: worker processes write and read while
//! the harness turns the ground under them.
//!
//! - `link`: a value folder is replaced by a symbolic link to a folder
//!   outside the cache holding decoys of the same names and sizes.
//! - `full`: the small filesystem the cache lives on fills up, and is
//!   freed again.
//! - `swap`: `cache.db` is replaced by another cache's database.
//! - `dblink`: `cache.db` is a symbolic link to a database elsewhere, with
//!   a stale `cache.db-shm` beside the link.
//!
//! Each part checks every worker's exit status (a signal or a panic is a
//! violation) and its own invariants, listed with each part.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use diskcache_shard::{Cache, Error, Problem};

use crate::record::{self, Rng};
use crate::{Outcome, Res};

/// Keys each worker owns (`w<id>k<j>`): no other worker writes them, so a
/// worker knows what each of its keys must hold.
const OWN_KEYS: u64 = 40;
/// The longest any worker runs, in case the harness never tells it to stop.
const WORKER_BOUND: Duration = Duration::from_secs(300);

fn own_key(id: u32, j: u64) -> String {
    format!("w{id}k{j}")
}

/// Whether the marker `name` exists in the control folder `ctl`.
fn marked(ctl: &Path, name: &str) -> bool {
    ctl.join(name).exists()
}

fn mark(ctl: &Path, name: &str) -> Res<()> {
    fs::write(ctl.join(name), b"")?;
    Ok(())
}

/// Whether `e` says the disk is full, as SQLite or the filesystem says it.
fn says_full(e: &Error) -> bool {
    match e.root() {
        Error::Io { source, .. } => source.raw_os_error() == Some(28),
        // SQLITE_FULL.
        Error::Sqlite { code, message, .. } => *code == Some(13) || message.contains("full"),
        _ => false,
    }
}

// ---------------------------------------------------------------------
// Worker processes and their exits.

/// A worker's end: how it exited and what it printed.
struct Exit {
    id: u32,
    status: ExitStatus,
    out: String,
    err: String,
}

/// Starts `worker-hostile PART DIR CTL ID` for each id in `ids`.
fn start(part: &str, dir: &Path, ctl: &Path, ids: std::ops::Range<u32>) -> Res<Vec<(u32, Child)>> {
    let exe = std::env::current_exe()?;
    ids.map(|id| {
        let child = Command::new(&exe)
            .arg("worker-hostile")
            .arg(part)
            .arg(dir)
            .arg(ctl)
            .arg(id.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {part} worker {id} ({}): {e}", exe.display()))?;
        Ok((id, child))
    })
    .collect()
}

/// Waits for the workers (killing any still running at `deadline`) and
/// gives their exits. Their output is read while they run, so that a full
/// pipe never blocks them.
fn finish(children: Vec<(u32, Child)>, deadline: Instant) -> Res<Vec<Exit>> {
    let mut readers = Vec::new();
    let mut running = Vec::new();
    for (id, mut child) in children {
        let mut out = child.stdout.take().ok_or("no stdout from a worker")?;
        let mut err = child.stderr.take().ok_or("no stderr from a worker")?;
        readers.push((
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = out.read_to_string(&mut s);
                s
            }),
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                s
            }),
        ));
        running.push((id, child));
    }
    let mut exits = Vec::new();
    for ((id, mut child), (out, err)) in running.into_iter().zip(readers) {
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        exits.push(Exit {
            id,
            status,
            out: out
                .join()
                .map_err(|_| "a worker's output reader panicked")?,
            err: err.join().map_err(|_| "a worker's error reader panicked")?,
        });
    }
    Ok(exits)
}

/// A violation for each worker that died of a signal, panicked or failed.
fn judge_exits(part: &str, exits: &[Exit], violations: &mut Vec<String>) {
    for e in exits {
        let last = e.err.lines().last().unwrap_or("").to_string();
        if let Some(sig) = e.status.signal() {
            violations.push(format!("{part}: worker {} died of signal {sig}", e.id));
        } else if e.status.code() == Some(101) {
            violations.push(format!("{part}: worker {} panicked: {last}", e.id));
        } else if !e.status.success() {
            violations.push(format!(
                "{part}: worker {} failed ({}): {last}",
                e.id, e.status
            ));
        }
        for line in e.out.lines() {
            if let Some(bad) = line.strip_prefix("bad ") {
                violations.push(format!("{part}: worker {}: {bad}", e.id));
            }
        }
    }
}

/// The sum of the `count NAME N` lines of every worker, by name.
fn counts(exits: &[Exit]) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for e in exits {
        for line in e.out.lines() {
            let mut parts = line.split(' ');
            if let (Some("count"), Some(name), Some(n)) = (parts.next(), parts.next(), parts.next())
            {
                *sums.entry(name.to_string()).or_insert(0) += n.parse::<u64>().unwrap_or(0);
            }
        }
    }
    sums
}

fn print_counts(out: &mut impl Write, counts: &[(&str, u64)]) -> Res<()> {
    for (name, n) in counts {
        writeln!(out, "count {name} {n}")?;
    }
    Ok(())
}

/// The worker's side: `PART DIR CTL ID`.
pub fn worker(args: &[String]) -> Res<()> {
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or("missing argument");
    let dir = Path::new(arg(1)?);
    let ctl = Path::new(arg(2)?);
    let id: u32 = arg(3)?.parse()?;
    match arg(0)? {
        "link" => link_worker(dir, ctl, id),
        "full" => full_worker(dir, ctl, id),
        "swap" => swap_worker(dir, ctl, id),
        "dblink-writer" => dblink_writer(dir, ctl, id),
        "dblink-reader" => dblink_reader(dir, ctl, id),
        "full-inside" => full_inside(arg(1)?.parse()?),
        other => Err(format!("unknown hostile worker {other}").into()),
    }
}

/// What a worker last did to one of its keys, and the sets that failed
/// since (a failed set must change nothing, but which of them reached the
/// disk is not the question here).
#[derive(Clone, Default)]
struct Own {
    /// The last acknowledged set (its sequence number), or `None` after an
    /// acknowledged delete or before any write.
    acked: Option<u64>,
    /// Whether anything was acknowledged at all.
    written: bool,
    /// Sets that failed since the last acknowledged write.
    failed: Vec<u64>,
    /// Whether the last acknowledged write began after the fault was
    /// planted (then the key must read back exactly).
    strict: bool,
}

impl Own {
    /// Whether `seq` is a value this key may hold.
    fn allows(&self, seq: u64) -> bool {
        self.acked == Some(seq) || self.failed.contains(&seq)
    }
}

/// Checks a read of worker `id`'s key `key` against `own`; the violation.
fn judge_read(id: u32, key: &str, own: &Own, got: &Option<Vec<u8>>) -> Option<String> {
    match got {
        Some(v) => match record::check(key, v) {
            Ok((w, seq)) if w == id && own.allows(seq) => None,
            Ok((w, seq)) => Some(format!(
                "{key} holds write ({w}, {seq}), not the acknowledged {:?} (failed since: {:?})",
                own.acked, own.failed
            )),
            Err(e) => Some(format!("read a value that is not the one stored: {e}")),
        },
        None if own.acked.is_some() && own.strict => Some(format!(
            "{key}: acknowledged set {:?} read as a miss",
            own.acked
        )),
        None => None,
    }
}

// ---------------------------------------------------------------------
// Every file and folder under a folder, with its bytes.

/// Every entry under `dir` (links not followed: a link is recorded with
/// its target), files with their bytes.
fn snapshot(dir: &Path) -> Res<BTreeMap<PathBuf, String>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            let what = if kind.is_dir() {
                todo.push(path.clone());
                "folder".to_string()
            } else if kind.is_symlink() {
                format!("link to {}", fs::read_link(&path)?.display())
            } else {
                let bytes = fs::read(&path)?;
                format!("{} bytes, hash {:x}", bytes.len(), fnv(&bytes))
            };
            out.insert(path, what);
        }
    }
    Ok(out)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The differences between two snapshots, in words.
fn differences(
    before: &BTreeMap<PathBuf, String>,
    after: &BTreeMap<PathBuf, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, was) in before {
        match after.get(path) {
            None => out.push(format!("{} ({was}) was removed", path.display())),
            Some(now) if now != was => {
                out.push(format!("{} changed: {was} -> {now}", path.display()));
            }
            Some(_) => {}
        }
    }
    for (path, now) in after {
        if !before.contains_key(path) {
            out.push(format!("{} ({now}) was created", path.display()));
        }
    }
    out
}

// ---------------------------------------------------------------------
// link: a value folder replaced by a link to a folder outside.

/// Makes `dst` a copy of the live folder `src` with decoys (the same
/// names and sizes, other bytes) for its files; entries that vanish while
/// it is read are skipped. How many decoys were made.
fn mirror(src: &Path, dst: &Path) -> Res<u64> {
    fs::create_dir_all(dst)?;
    let mut decoys = 0;
    let Ok(entries) = fs::read_dir(src) else {
        return Ok(0);
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let there = dst.join(entry.file_name());
        if meta.is_dir() {
            decoys += mirror(&entry.path(), &there)?;
        } else if meta.is_file() {
            fs::write(&there, vec![0x5a; meta.len() as usize])?;
            decoys += 1;
        }
    }
    Ok(decoys)
}

/// Values of the link part: all in files.
const LINK_MIN_FILE: u64 = 64;

fn link_worker(dir: &Path, ctl: &Path, id: u32) -> Res<()> {
    let cache = Cache::builder().min_file_size(LINK_MIN_FILE).open(dir)?;
    let mut rng = Rng::new(u64::from(id) + 100);
    let mut own = vec![Own::default(); OWN_KEYS as usize];
    let mut out = std::io::stdout().lock();
    let (mut sets, mut gets, mut dels, mut refused, mut failed, mut misses) = (0, 0, 0, 0, 0, 0);
    let started = Instant::now();
    for seq in 0.. {
        if marked(ctl, "stop") || started.elapsed() > WORKER_BOUND {
            break;
        }
        let planted = marked(ctl, "planted");
        let j = rng.below(OWN_KEYS);
        let key = own_key(id, j);
        let o = &mut own[j as usize];
        match rng.below(10) {
            0..5 => {
                let len = 100 + rng.below(4000) as usize;
                sets += 1;
                match cache.set(&key, &record::make(&key, id, seq, len)) {
                    Ok(()) => {
                        *o = Own {
                            acked: Some(seq),
                            written: true,
                            failed: Vec::new(),
                            strict: planted,
                        };
                    }
                    Err(e) => {
                        failed += 1;
                        o.failed.push(seq);
                        if planted {
                            // A set may fail when the folder it picked is
                            // the link; say why, for the record.
                            writeln!(out, "setfail {e}")?;
                        } else {
                            writeln!(out, "bad a set failed before any link: {e}")?;
                        }
                    }
                }
            }
            5 => {
                dels += 1;
                match cache.delete(&key) {
                    Ok(_) => {
                        *o = Own {
                            acked: None,
                            written: true,
                            failed: Vec::new(),
                            strict: planted,
                        }
                    }
                    Err(e) => writeln!(out, "bad delete {key}: {e}")?,
                }
            }
            _ => {
                gets += 1;
                match cache.get::<Vec<u8>>(&key) {
                    Ok(got) => {
                        if got.is_none() && o.acked.is_some() {
                            misses += 1;
                        }
                        if let Some(v) = judge_read(id, &key, o, &got) {
                            writeln!(out, "bad {v}")?;
                        }
                    }
                    Err(e) if o.strict => {
                        writeln!(out, "bad {key} written after the link, read failed: {e}")?;
                    }
                    Err(Error::Corrupt { .. }) => refused += 1,
                    Err(e) => writeln!(out, "bad {key}: read failed, not as corrupt: {e}")?,
                }
            }
        }
    }
    print_counts(
        &mut out,
        &[
            ("sets", sets),
            ("gets", gets),
            ("deletes", dels),
            ("refused", refused),
            ("failed", failed),
            ("misses", misses),
        ],
    )?;
    print_final(&mut out, &own)?;
    Ok(())
}

/// Prints `final J SEQ|none` for each key whose state is exactly known.
fn print_final(out: &mut impl Write, own: &[Own]) -> Res<()> {
    for (j, o) in own.iter().enumerate() {
        if !o.written || !o.failed.is_empty() {
            continue;
        }
        match o.acked {
            Some(seq) => writeln!(out, "final {j} {seq}")?,
            None => writeln!(out, "final {j} none")?,
        }
    }
    Ok(())
}

/// The `final` lines of a worker: key index -> acknowledged set or delete.
fn finals(out: &str) -> HashMap<u64, Option<u64>> {
    out.lines()
        .filter_map(|l| {
            let mut p = l.split(' ');
            let (Some("final"), Some(j), Some(seq)) = (p.next(), p.next(), p.next()) else {
                return None;
            };
            Some((j.parse().ok()?, seq.parse().ok()))
        })
        .collect()
}

/// Plants the link while workers run; see the module's doc.
pub fn run_link(unit: Duration) -> Res<Outcome> {
    let outer = tempfile::tempdir()?;
    let ctl = tempfile::tempdir()?;
    let dir = outer.path().join("cache");
    let outside = outer.path().join("outside");
    let aside = outer.path().join("aside");
    drop(Cache::builder().min_file_size(LINK_MIN_FILE).open(&dir)?);
    let procs = 4;
    let children = start("link", &dir, ctl.path(), 0..procs)?;
    let deadline = Instant::now() + unit * 10 + Duration::from_secs(60);
    let mut violations = Vec::new();
    std::thread::sleep(unit);

    // A quarter of the value folders (those whose names begin with 0-3),
    // each renamed aside (out of the cache), and in its place a link to a
    // folder of decoys outside: the same names, the same sizes, other
    // bytes. A decoy read as a value fails its check; one written,
    // changed or removed shows in the outside's listing.
    let tops: Vec<String> = fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 2 && n.starts_with(['0', '1', '2', '3']))
        .collect();
    if tops.is_empty() {
        return Err("no value folder to link was made".into());
    }
    fs::create_dir(&outside)?;
    fs::create_dir(&aside)?;
    fs::write(outside.join("decoy.txt"), b"outside the cache")?;
    let mut decoys = 0;
    for top in &tops {
        decoys += mirror(&dir.join(top), &outside.join(top))?;
    }
    // The outside as it is before any link to it exists.
    let outside_before = snapshot(&outside)?;
    // Writers may remove a folder (left empty) or make it again between
    // two of these steps: such a folder is left as it is.
    let mut linked = Vec::new();
    for top in tops {
        if fs::rename(dir.join(&top), aside.join(&top)).is_ok()
            && symlink(outside.join(&top), dir.join(&top)).is_ok()
        {
            linked.push(top);
        }
    }
    let tops = linked;
    mark(ctl.path(), "planted")?;
    // A write under way at the rename may still finish in the folder
    // moved aside (the library had it open): that is the cache's own
    // folder moving, not a write through the link; let them settle.
    std::thread::sleep(Duration::from_millis(200));
    let aside_before = snapshot(&aside)?;
    std::thread::sleep(unit * 3);
    mark(ctl.path(), "stop")?;
    let exits = finish(children, deadline)?;
    judge_exits("link", &exits, &mut violations);
    let sums = counts(&exits);

    // After the workers: every key not under the linked folder holds what
    // its worker acknowledged last.
    let cache = Cache::builder().min_file_size(LINK_MIN_FILE).open(&dir)?;
    let db = rusqlite::Connection::open(dir.join("cache.db"))?;
    let mut checked = 0;
    for e in &exits {
        for (j, last) in finals(&e.out) {
            let key = own_key(e.id, j);
            let file: Option<Option<String>> = db
                .query_row("SELECT filename FROM Cache WHERE key = ?1", [&key], |r| {
                    r.get(0)
                })
                .ok();
            let under_link = file
                .flatten()
                .is_some_and(|f| tops.iter().any(|t| f.starts_with(&format!("{t}/"))));
            let got = cache.get::<Vec<u8>>(&key);
            let own = Own {
                acked: last,
                written: true,
                failed: Vec::new(),
                strict: true,
            };
            match (under_link, got) {
                (false, Ok(got)) => {
                    checked += 1;
                    if let Some(v) = judge_read(e.id, &key, &own, &got) {
                        violations.push(format!("link, after the run: {v}"));
                    }
                }
                (false, Err(err)) => {
                    violations.push(format!("link, after the run: {key}: {err}"));
                }
                (true, Ok(Some(v))) => {
                    if let Err(err) = record::check(&key, &v) {
                        violations.push(format!("link, through the link: {err}"));
                    }
                }
                (true, _) => {}
            }
        }
    }
    // check reports the link; fix removes the link, never what it names.
    let report = cache.check(false)?;
    if !report
        .problems
        .iter()
        .any(|p| matches!(p, Problem::SymbolicLink { .. }))
    {
        violations.push("link: check did not report the linked folder".into());
    }
    cache.check_with(true, Duration::ZERO)?;
    for top in &tops {
        if fs::symlink_metadata(dir.join(top)).is_ok_and(|m| m.file_type().is_symlink()) {
            violations.push(format!("link: check(fix) left the link {top}"));
        }
    }
    drop(cache);
    for d in differences(&outside_before, &snapshot(&outside)?) {
        violations.push(format!("link: outside the cache, {d}"));
    }
    for d in differences(&aside_before, &snapshot(&aside)?) {
        violations.push(format!("link: in the folder moved aside, {d}"));
    }
    let ops = sums.get("sets").unwrap_or(&0)
        + sums.get("gets").unwrap_or(&0)
        + sums.get("deletes").unwrap_or(&0);
    Ok(Outcome {
        ops,
        procs,
        kills: 0,
        faults: 1,
        violations,
        note: format!(
            "{} folders linked out, {decoys} decoys; {} reads refused as corrupt, {} misses, {} sets failed; {checked} keys checked after",
            tops.len(),
            sums.get("refused").unwrap_or(&0),
            sums.get("misses").unwrap_or(&0),
            sums.get("failed").unwrap_or(&0),
        ),
    })
}

// ---------------------------------------------------------------------
// full: the filesystem fills up under load, and is freed.

/// The filesystem of the full part: larger than the log grows to while
/// writers contend (some 33 MiB), so that only the filler fills it.
const FULL_SIZE: &str = "64m";

/// Values of the full part: some inline, most in files.
const FULL_MIN_FILE: u64 = 1024;

fn full_worker(dir: &Path, ctl: &Path, id: u32) -> Res<()> {
    let cache = Cache::builder().min_file_size(FULL_MIN_FILE).open(dir)?;
    let mut rng = Rng::new(u64::from(id) + 200);
    let mut own = vec![Own::default(); OWN_KEYS as usize];
    let mut out = std::io::stdout().lock();
    let (mut sets, mut gets, mut full, mut after, mut during) = (0, 0, 0, 0, 0);
    let started = Instant::now();
    for seq in 0.. {
        if marked(ctl, "stop") || started.elapsed() > WORKER_BOUND {
            break;
        }
        let freed = marked(ctl, "freed");
        let filled = marked(ctl, "filled");
        let j = rng.below(OWN_KEYS);
        let key = own_key(id, j);
        let o = &mut own[j as usize];
        if rng.below(2) == 0 {
            let len = 200 + rng.below(16_000) as usize;
            sets += 1;
            if filled && !freed {
                during += 1;
            }
            match cache.set(&key, &record::make(&key, id, seq, len)) {
                Ok(()) => {
                    *o = Own {
                        acked: Some(seq),
                        written: true,
                        failed: Vec::new(),
                        strict: true,
                    };
                    if freed {
                        after += 1;
                    }
                }
                Err(e) => {
                    o.failed.push(seq);
                    if freed {
                        writeln!(out, "bad a set failed after space was freed: {e}")?;
                    } else if says_full(&e) {
                        full += 1;
                    } else {
                        writeln!(out, "bad a set failed, not for want of space: {e}")?;
                    }
                }
            }
        } else {
            gets += 1;
            match cache.get::<Vec<u8>>(&key) {
                Ok(got) => {
                    if let Some(v) = judge_read(id, &key, o, &got) {
                        writeln!(out, "bad {v}")?;
                    }
                }
                Err(e) => writeln!(out, "bad reading {key} (disk full: {filled}): {e}")?,
            }
        }
    }
    print_counts(
        &mut out,
        &[
            ("sets", sets),
            ("gets", gets),
            ("full", full),
            ("during", during),
            ("after", after),
        ],
    )?;
    print_final(&mut out, &own)?;
    Ok(())
}

/// A tmpfs mounted on a fresh folder, unmounted (lazily, if busy) when
/// dropped.
struct Mounted {
    point: PathBuf,
    _parent: tempfile::TempDir,
}

impl Mounted {
    /// Mounts a tmpfs of `size`; `None` where mounting is refused.
    fn tmpfs(size: &str) -> Res<Option<Mounted>> {
        let parent = tempfile::tempdir()?;
        let point = parent.path().join("mnt");
        fs::create_dir(&point)?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&point)
            .stderr(Stdio::null())
            .status();
        if !mounted.is_ok_and(|s| s.success()) {
            return Ok(None);
        }
        Ok(Some(Mounted {
            point,
            _parent: parent,
        }))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.point)
            .stderr(Stdio::null())
            .status();
        if !unmounted.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&self.point).status();
        }
    }
}

/// Fills the filesystem holding `path` with that file; its size.
fn fill(path: &Path) -> Res<u64> {
    let mut file = fs::File::create(path)?;
    let chunk = vec![0x5au8; 16 << 10];
    let mut written = 0;
    for _ in 0..100_000 {
        match file.write(&chunk) {
            Ok(0) => return Ok(written),
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => return Ok(written),
            Err(e) => return Err(e.into()),
        }
    }
    Err("the filler never met a full disk".into())
}

/// The full part: mounted directly (as root), else in a user and mount
/// namespace of its own, else skipped with a note.
pub fn run_full(unit: Duration) -> Res<Outcome> {
    if let Some(mnt) = Mounted::tmpfs(FULL_SIZE)? {
        let outcome = full_on(&mnt.point, unit);
        drop(mnt);
        return outcome;
    }
    let exe = std::env::current_exe()?;
    let out = Command::new("unshare")
        .args(["-r", "-m"])
        .arg(&exe)
        .args(["worker-hostile", "full-inside"])
        .arg(unit.as_millis().to_string())
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out.map_err(|e| e.to_string()).and_then(|o| {
        if o.status.success() {
            Ok(o)
        } else {
            Err(o.status.to_string())
        }
    }) else {
        return Ok(Outcome {
            ops: 0,
            procs: 0,
            kills: 0,
            faults: 0,
            violations: Vec::new(),
            note: "skipped: cannot mount a small filesystem here".into(),
        });
    };
    let text = String::from_utf8(out.stdout)?;
    let mut o = Outcome {
        ops: 0,
        procs: 0,
        kills: 0,
        faults: 0,
        violations: Vec::new(),
        note: String::new(),
    };
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("ops", n)) => o.ops = n.parse()?,
            Some(("procs", n)) => o.procs = n.parse()?,
            Some(("faults", n)) => o.faults = n.parse()?,
            Some(("violation", v)) => o.violations.push(v.to_string()),
            Some(("note", n)) => o.note = format!("in a namespace; {n}"),
            _ => {}
        }
    }
    Ok(o)
}

/// The namespace child's side of [`run_full`].
fn full_inside(unit_ms: u64) -> Res<()> {
    let mnt = Mounted::tmpfs(FULL_SIZE)?.ok_or("mount refused in the namespace")?;
    let o = full_on(&mnt.point, Duration::from_millis(unit_ms))?;
    drop(mnt);
    println!("ops {}", o.ops);
    println!("procs {}", o.procs);
    println!("faults {}", o.faults);
    for v in o.violations {
        println!("violation {v}");
    }
    println!("note {}", o.note);
    Ok(())
}

fn full_on(mount: &Path, unit: Duration) -> Res<Outcome> {
    let ctl = tempfile::tempdir()?;
    let dir = mount.join("cache");
    drop(Cache::builder().min_file_size(FULL_MIN_FILE).open(&dir)?);
    let procs = 4;
    let children = start("full", &dir, ctl.path(), 0..procs)?;
    let deadline = Instant::now() + unit * 10 + Duration::from_secs(60);
    let mut violations = Vec::new();
    std::thread::sleep(unit);
    let filler = mount.join("filler");
    let filled = fill(&filler)?;
    mark(ctl.path(), "filled")?;
    // Two more workers open the cache on the full disk, with the commit
    // feed gone: they make it anew where no block can be had for it (a
    // store into a shared map's page without a block is SIGBUS).
    let _ = fs::remove_file(dir.join("cache.db-memo"));
    let mut children = children;
    children.extend(start("full", &dir, ctl.path(), procs..procs + 2)?);
    let procs = procs + 2;
    std::thread::sleep(unit * 2);
    fs::remove_file(&filler)?;
    mark(ctl.path(), "freed")?;
    std::thread::sleep(unit * 2);
    mark(ctl.path(), "stop")?;
    let exits = finish(children, deadline)?;
    judge_exits("full", &exits, &mut violations);
    let sums = counts(&exits);
    let get = |n: &str| sums.get(n).copied().unwrap_or(0);
    if get("full") == 0 {
        violations.push("full: no worker's set met the full disk".into());
    }
    if get("after") == 0 {
        violations.push("full: no set succeeded after space was freed".into());
    }
    // Every acknowledged entry is there, whole, in a new handle.
    let cache = Cache::builder().min_file_size(FULL_MIN_FILE).open(&dir)?;
    let mut checked = 0;
    for e in &exits {
        for (j, last) in finals(&e.out) {
            let key = own_key(e.id, j);
            let own = Own {
                acked: last,
                written: true,
                failed: Vec::new(),
                strict: true,
            };
            checked += 1;
            match cache.get::<Vec<u8>>(&key) {
                Ok(got) => {
                    if let Some(v) = judge_read(e.id, &key, &own, &got) {
                        violations.push(format!("full, after the run: {v}"));
                    }
                }
                Err(err) => violations.push(format!("full, after the run: {key}: {err}")),
            }
        }
    }
    let report = cache.check(false)?;
    if !report.is_clean() {
        violations.push(format!("full: check after the run: {:?}", report.problems));
    }
    drop(cache);
    Ok(Outcome {
        ops: get("sets") + get("gets"),
        procs,
        kills: 0,
        faults: 1,
        violations,
        note: format!(
            "filler {} KiB; {} sets while full, {} failed for want of space, {} succeeded after freeing; {checked} keys checked after",
            filled >> 10,
            get("during"),
            get("full"),
            get("after")
        ),
    })
}

// ---------------------------------------------------------------------
// swap: cache.db replaced under load.

/// Entries of the cache whose database is moved in: inline, since its
/// value files are not moved with it.
const FRESH_KEYS: u64 = 50;

fn swap_worker(dir: &Path, ctl: &Path, id: u32) -> Res<()> {
    let cache = Cache::builder().min_file_size(FULL_MIN_FILE).open(dir)?;
    let mut rng = Rng::new(u64::from(id) + 300);
    let mut out = std::io::stdout().lock();
    let started = Instant::now();
    // The acknowledged sets after this worker saw a failure after the
    // replacement, by key: their reads must give them back.
    let mut since: HashMap<u64, u64> = HashMap::new();
    let mut failed_after = false;
    let (mut sets, mut gets) = (0, 0);
    for seq in 0.. {
        if marked(ctl, "stop") || started.elapsed() > WORKER_BOUND {
            break;
        }
        let j = rng.below(OWN_KEYS);
        let key = own_key(id, j);
        if rng.below(3) == 0 {
            gets += 1;
            let got = cache.get::<Vec<u8>>(&key);
            if let Some(&want) = since.get(&j) {
                match got {
                    Ok(Some(v)) if record::check(&key, &v) == Ok((id, want)) => {}
                    other => writeln!(
                        out,
                        "bad {key}: set {want} acknowledged in the new file, read as {:?}",
                        other.map(|o| o.map(|v| record::check(&key, &v)))
                    )?,
                }
            }
            continue;
        }
        sets += 1;
        let len = 100 + rng.below(3000) as usize;
        let before = marked(ctl, "replaced");
        let result = cache.set(&key, &record::make(&key, id, seq, len));
        let after = marked(ctl, "replaced");
        let flags = format!("{} {}", u8::from(before), u8::from(after));
        match result {
            Ok(()) => {
                writeln!(out, "ok {seq} {j} {flags}")?;
                if failed_after && before {
                    since.insert(j, seq);
                }
            }
            Err(e) => {
                writeln!(out, "err {seq} {j} {flags} {e}")?;
                failed_after |= after;
            }
        }
    }
    print_counts(&mut out, &[("sets", sets), ("gets", gets)])?;
    Ok(())
}

/// Empties the log of `dir`'s cache.db and, holding the write lock so that
/// nobody writes into the log again, renames `fresh` over it; how many
/// attempts it took.
fn swap_in(dir: &Path, fresh: &Path, ctl: &Path) -> Res<u32> {
    let db = dir.join("cache.db");
    let wal = dir.join("cache.db-wal");
    let conn = rusqlite::Connection::open(&db)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    for attempt in 1..=200 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            continue;
        }
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let empty = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0;
        if empty {
            let renamed = fs::rename(fresh, &db);
            let marked = mark(ctl, "replaced");
            conn.execute_batch("ROLLBACK")?;
            renamed?;
            marked?;
            return Ok(attempt);
        }
        conn.execute_batch("ROLLBACK")?;
    }
    Err("the log never stayed empty long enough to replace cache.db".into())
}

/// One `ok|err SEQ J BEFORE AFTER` line of a swap worker.
struct SwapOp {
    ok: bool,
    seq: u64,
    j: u64,
    after: bool,
    /// Begun once the replacement was marked.
    before: bool,
}

fn swap_ops(out: &str) -> Vec<SwapOp> {
    out.lines()
        .filter_map(|l| {
            let mut p = l.split(' ');
            let ok = match p.next()? {
                "ok" => true,
                "err" => false,
                _ => return None,
            };
            let seq = p.next()?.parse().ok()?;
            let j = p.next()?.parse().ok()?;
            let before = p.next()? == "1";
            let after = p.next()? == "1";
            Some(SwapOp {
                ok,
                seq,
                j,
                after,
                before,
            })
        })
        .collect()
}

/// Replaces cache.db while workers write; see the module's doc and
/// docs/stress.md for the invariant.
pub fn run_swap(unit: Duration) -> Res<Outcome> {
    let outer = tempfile::tempdir()?;
    let ctl = tempfile::tempdir()?;
    let dir = outer.path().join("cache");
    let fresh_dir = outer.path().join("fresh");
    drop(Cache::builder().min_file_size(FULL_MIN_FILE).open(&dir)?);
    let fresh = Cache::builder()
        .min_file_size(FULL_MIN_FILE)
        .open(&fresh_dir)?;
    for i in 0..FRESH_KEYS {
        fresh.set(&format!("fresh{i}"), &(i as i64))?;
    }
    fresh.close()?;
    let procs = 4;
    let children = start("swap", &dir, ctl.path(), 0..procs)?;
    let deadline = Instant::now() + unit * 10 + Duration::from_secs(60);
    let mut violations = Vec::new();
    std::thread::sleep(unit);
    let attempts = swap_in(&dir, &fresh_dir.join("cache.db"), ctl.path());
    if attempts.is_err() {
        let _ = mark(ctl.path(), "stop");
    }
    std::thread::sleep(unit * 2);
    mark(ctl.path(), "stop")?;
    let exits = finish(children, deadline)?;
    let attempts = attempts?;
    judge_exits("swap", &exits, &mut violations);
    let sums = counts(&exits);

    let cache = Cache::builder().min_file_size(FULL_MIN_FILE).open(&dir)?;
    for i in 0..FRESH_KEYS {
        let key = format!("fresh{i}");
        match cache.get::<i64>(&key) {
            Ok(Some(v)) if v == i as i64 => {}
            other => violations.push(format!(
                "swap: the new file's {key} reads as {other:?}, not {i}"
            )),
        }
    }
    let (mut first_failures, mut acked_after) = (0, 0);
    for e in &exits {
        let ops = swap_ops(&e.out);
        // The last acknowledged set of each key begun after the
        // replacement, and the sets since that the key may also hold (those
        // that failed, and those under way at the replacement).
        let mut last: HashMap<u64, u64> = HashMap::new();
        let mut failed: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut failures_after = 0;
        for op in &ops {
            if !op.ok {
                if !op.after {
                    violations.push(format!(
                        "swap: worker {}: set {} failed before the replacement",
                        e.id, op.seq
                    ));
                }
                failures_after += 1;
                if failures_after > 1 {
                    violations.push(format!(
                        "swap: worker {}: set {} is a failure after the first one",
                        e.id, op.seq
                    ));
                }
                failed.entry(op.j).or_default().push(op.seq);
            } else if op.before {
                // Begun after the replacement: must be in the new file.
                acked_after += 1;
                last.insert(op.j, op.seq);
                failed.remove(&op.j);
            } else if op.after {
                // Under way at the replacement: it wrote the old file
                // just before, or the new one (its first write did not
                // need to fail); either may be what the key holds.
                failed.entry(op.j).or_default().push(op.seq);
            }
        }
        first_failures += failures_after.min(1);
        for j in 0..OWN_KEYS {
            let key = own_key(e.id, j);
            let allowed = failed.get(&j).cloned().unwrap_or_default();
            let got = cache.get::<Vec<u8>>(&key);
            match (last.get(&j), got) {
                (Some(&want), Ok(Some(v))) => match record::check(&key, &v) {
                    Ok((w, seq)) if w == e.id && (seq == want || allowed.contains(&seq)) => {}
                    other => violations.push(format!(
                        "swap: {key}: set {want} acknowledged after the replacement, the new file holds {other:?}"
                    )),
                },
                (Some(&want), other) => violations.push(format!(
                    "swap: {key}: set {want} acknowledged after the replacement, the new file gives {:?}",
                    other.map(|o| o.map(|v| v.len()))
                )),
                (None, Ok(Some(v))) => match record::check(&key, &v) {
                    Ok((w, seq)) if w == e.id && allowed.contains(&seq) => {}
                    other => violations.push(format!(
                        "swap: {key}: a write to the old file is in the new one: {other:?}"
                    )),
                },
                (None, _) => {}
            }
        }
    }
    match rusqlite::Connection::open(dir.join("cache.db"))
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)))
    {
        Ok(s) if s == "ok" => {}
        other => violations.push(format!("swap: the new file's integrity check: {other:?}")),
    }
    drop(cache);
    Ok(Outcome {
        ops: sums.get("sets").unwrap_or(&0) + sums.get("gets").unwrap_or(&0),
        procs,
        kills: 0,
        faults: 1,
        violations,
        note: format!(
            "replaced at attempt {attempts}; {first_failures} of {procs} workers' first set after it failed; {acked_after} sets acknowledged after it, all checked"
        ),
    })
}

// ---------------------------------------------------------------------
// dblink: cache.db a link to a database elsewhere, a stale WAL index
// beside the link.

/// Writers of the dblink part (the rest of the workers read).
const DBLINK_WRITERS: u32 = 2;
const DBLINK_READERS: u32 = 2;

fn ack_file(ctl: &Path) -> PathBuf {
    ctl.join("acks")
}

fn dblink_writer(dir: &Path, ctl: &Path, id: u32) -> Res<()> {
    let cache = Cache::open(dir)?;
    let acks = fs::OpenOptions::new().write(true).open(ack_file(ctl))?;
    let started = Instant::now();
    let key = format!("n{id}");
    let mut n: i64 = 0;
    while !marked(ctl, "stop") && started.elapsed() < WORKER_BOUND {
        n += 1;
        cache.set(&key, &n)?;
        // Acknowledged: from now on every read begun must see it.
        acks.write_all_at(&n.to_le_bytes(), u64::from(id) * 8)?;
    }
    print_counts(&mut std::io::stdout().lock(), &[("sets", n as u64)])?;
    Ok(())
}

fn dblink_reader(dir: &Path, ctl: &Path, _id: u32) -> Res<()> {
    let cache = Cache::open(dir)?;
    let acks = fs::File::open(ack_file(ctl))?;
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    let (mut reads, mut stale) = (0u64, 0u64);
    while !marked(ctl, "stop") && started.elapsed() < WORKER_BOUND {
        for w in 0..DBLINK_WRITERS {
            let mut buf = [0u8; 8];
            acks.read_exact_at(&mut buf, u64::from(w) * 8)?;
            let acked = i64::from_le_bytes(buf);
            // Twice: the second is the one a memo would answer.
            for _ in 0..2 {
                reads += 1;
                let got = cache.get::<i64>(&format!("n{w}"))?.unwrap_or(0);
                if got < acked {
                    stale += 1;
                    if stale <= 5 {
                        writeln!(
                            out,
                            "bad n{w} read as {got} after set {acked} was acknowledged"
                        )?;
                    }
                }
            }
        }
    }
    print_counts(&mut out, &[("reads", reads), ("stale", stale)])?;
    Ok(())
}

/// Readers and writers on a cache whose cache.db is a link; see the
/// module's doc.
pub fn run_dblink(unit: Duration) -> Res<Outcome> {
    let elsewhere = tempfile::tempdir()?;
    let outer = tempfile::tempdir()?;
    let ctl = tempfile::tempdir()?;
    let dir = outer.path().join("cache");
    fs::create_dir(&dir)?;
    // The real database, made in its own folder; its WAL index copied
    // beside the link while it is in use, so that it looks valid.
    let maker = Cache::open(elsewhere.path())?;
    for w in 0..DBLINK_WRITERS {
        maker.set(&format!("n{w}"), &0i64)?;
    }
    symlink(elsewhere.path().join("cache.db"), dir.join("cache.db"))?;
    fs::copy(
        elsewhere.path().join("cache.db-shm"),
        dir.join("cache.db-shm"),
    )?;
    drop(maker);
    let stale = fs::read(dir.join("cache.db-shm"))?;
    fs::write(ack_file(ctl.path()), [0u8; 8 * DBLINK_WRITERS as usize])?;
    let mut children = start("dblink-writer", &dir, ctl.path(), 0..DBLINK_WRITERS)?;
    children.extend(start(
        "dblink-reader",
        &dir,
        ctl.path(),
        DBLINK_WRITERS..DBLINK_WRITERS + DBLINK_READERS,
    )?);
    let deadline = Instant::now() + unit * 10 + Duration::from_secs(60);
    std::thread::sleep(unit * 3);
    mark(ctl.path(), "stop")?;
    let exits = finish(children, deadline)?;
    let mut violations = Vec::new();
    judge_exits("dblink", &exits, &mut violations);
    let sums = counts(&exits);
    let get = |n: &str| sums.get(n).copied().unwrap_or(0);
    if get("stale") > 5 * u64::from(DBLINK_READERS) {
        violations.push(format!("dblink: {} stale reads in all", get("stale")));
    }
    if fs::read(dir.join("cache.db-shm"))? != stale {
        violations.push("dblink: the stale WAL index beside the link changed".into());
    }
    if dir.join("cache.db-memo").exists() {
        violations.push("dblink: a commit feed was made beside the link".into());
    }
    if !fs::symlink_metadata(dir.join("cache.db")).is_ok_and(|m| m.file_type().is_symlink()) {
        violations.push("dblink: cache.db is no longer the link".into());
    }
    Ok(Outcome {
        ops: get("sets") + get("reads"),
        procs: DBLINK_WRITERS + DBLINK_READERS,
        kills: 0,
        faults: 1,
        violations,
        note: format!(
            "{} acknowledged sets, {} reads after them, {} stale",
            get("sets"),
            get("reads"),
            get("stale")
        ),
    })
}
