//! The commit feed: what each commit of this library changed, for the read
//! memos of other handles and processes.
//!
//! Any commit by anyone rewrites SQLite's WAL-index header, which makes a
//! memo filled before it out of date. The feed lets a memo catch up
//! instead of starting over: after each commit that it can prove was its
//! own (the change counter moved by exactly one between the header read
//! under the write lock and the one read after `COMMIT`), a writer records
//! in `cache.db-memo` the headers before and after the commit and the keys
//! and rows it changed, in the slot of the commit's number. A memo valid
//! at one header reads the slots up to the current header and, when they
//! form an unbroken chain from its header to the current one, drops just
//! the entries named and stays valid.
//!
//! Anything else breaks the chain and the memo starts over, as it would
//! without the feed: a commit by python-diskcache or by a process with the
//! memo off (no slot), a slot overwritten by a later lap of the ring or
//! torn by a concurrent write (wrong number, wrong chain or bad checksum),
//! an operation that did not say what it changed or changed more than a
//! slot holds (marked "everything"), a log restart (the header changes
//! without a commit). A missing slot for the newest commit only makes the
//! memo wait, since its writer may be about to record it.
//!
//! The file is a ring of fixed slots, shared through a memory map (a
//! system call per commit cost a set about 1 µs; a copy into the map costs
//! nothing measurable) and accessed a word at a time with atomic loads and
//! stores, since other processes write it concurrently; the checksum
//! rejects a slot read while it was being written. Nothing here ever
//! shortens the file (see docs/design.md for what that assumes), and its
//! blocks are allocated before it is mapped, so that a full disk makes the
//! feed unavailable (every memo then starts over after others' commits)
//! instead of killing a writer with SIGBUS. The file sits beside the
//! database SQLite really opens, a link named `cache.db` resolved.
//! python-diskcache's `check` ignores it like every file whose name
//! contains `cache.db`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::files::at::{self, Kind};
use crate::memo::{Header, MemoKey};

/// Bytes of one slot.
const SLOT: usize = 512;
/// Slots in the ring: commits a memo can fall behind and still catch up.
const SLOTS: u32 = 512;
/// Marks a slot written by this version of the format.
const MAGIC: u32 = 0x6463_6d31;
/// Flag: the commit changed more than the slot names.
const EVERYTHING: u32 = 1;
/// Where the checksum starts (it covers every byte before it).
const CHECKSUM: usize = SLOT - 8;
/// Where the list of changed rows and keys starts.
const BODY: usize = 112;
/// Word 2 of a header: the commit counter.
const CHANGE: usize = 2;

/// What a memo learns from the feed.
#[derive(Debug, PartialEq)]
pub(crate) enum Catch {
    /// The commits since the memo's header changed just these.
    Changed { keys: Vec<MemoKey>, rows: Vec<i64> },
    /// The newest commit is not recorded (yet): try again later.
    Pending,
    /// The chain is broken: the memo must start over.
    Broken,
}

/// The feed file of one database, mapped on first use.
pub(crate) struct Feed {
    path: PathBuf,
    map: Option<memmap2::MmapRaw>,
    /// When mapping last failed: not tried again until [`RETRY`] later
    /// (the disk may have been full) or [`forget`](Self::forget).
    failed: Option<Instant>,
}

/// How long after a failed mapping the feed is tried again.
const RETRY: Duration = Duration::from_secs(5);

impl Feed {
    /// The feed beside database `db` (`cache.db-memo`).
    pub(crate) fn new(db: &Path) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push("-memo");
        Feed {
            path: PathBuf::from(path),
            map: None,
            failed: None,
        }
    }

    /// Drops the map, so that the next use maps whatever file the path
    /// names then (the directory may have been made anew).
    pub(crate) fn forget(&mut self) {
        self.map = None;
        self.failed = None;
    }

    /// The ring's slots, made (zeroed: no slot) if the file is missing.
    /// Without the file (it cannot be made or mapped) the feed is empty.
    fn map(&mut self) -> Option<&memmap2::MmapRaw> {
        if self.map.is_none() && self.failed.is_none_or(|at| at.elapsed() >= RETRY) {
            self.map = self.open();
            self.failed = self.map.is_none().then(Instant::now);
        }
        self.map.as_ref()
    }

    /// Maps the file read-write. A link in its place is refused, so that
    /// the feed never writes outside the cache directory. (A process that
    /// cannot write the directory cannot open the cache in WAL mode
    /// either: SQLite writes `cache.db-shm`.) The file's blocks are
    /// allocated before it is mapped, made anew or not: a store into a
    /// page of a shared map that has no block raises SIGBUS when the disk
    /// is full, so a disk too full to allocate them means no feed.
    fn open(&self) -> Option<memmap2::MmapRaw> {
        let file = at::open_shared(&self.path).ok()?;
        let Ok(Kind::File(found)) = at::kind_of(&file) else {
            return None;
        };
        let len = SLOTS as usize * SLOT;
        // Never less than the file holds: allocating may shorten a longer
        // file on some systems, under the maps of other processes.
        at::allocate(&file, found.max(len as u64)).ok()?;
        memmap2::MmapOptions::new().len(len).map_raw(&file).ok()
    }

    /// Records the commit that took the header from `before` to `after`:
    /// it changed `keys` and `rows`, or more than that when `everything`.
    /// Best effort: a slot not written only makes readers start over.
    pub(crate) fn publish(
        &mut self,
        before: &Header,
        after: &Header,
        everything: bool,
        keys: &[MemoKey],
        rows: &[i64],
    ) {
        let slot = encode(before, after, everything, keys, rows);
        if let Some(map) = self.map() {
            store(map, after[CHANGE], &slot);
        }
    }

    /// What the commits from header `from` to header `to` changed.
    pub(crate) fn read(&mut self, from: &Header, to: &Header) -> Catch {
        let count = to[CHANGE].wrapping_sub(from[CHANGE]);
        if count == 0 || count > SLOTS / 2 {
            return Catch::Broken;
        }
        let Some(map) = self.map() else {
            return Catch::Broken;
        };
        let (mut keys, mut rows) = (Vec::new(), Vec::new());
        let mut prev = *from;
        let mut buf = [0u8; SLOT];
        for i in 1..=count {
            let number = from[CHANGE].wrapping_add(i);
            load(map, number, &mut buf);
            let decoded = decode(&buf);
            let slot = match decoded {
                Some(slot) if slot.after[CHANGE] == number && slot.before == prev => slot,
                // The newest commit's writer may not have recorded it yet.
                _ if i == count => return Catch::Pending,
                _ => return Catch::Broken,
            };
            if slot.everything {
                return Catch::Broken;
            }
            keys.extend(slot.keys);
            rows.extend(slot.rows);
            prev = slot.after;
        }
        if prev == *to {
            Catch::Changed { keys, rows }
        } else {
            Catch::Broken
        }
    }
}

/// The words of the slot of commit `number` in `map`.
#[allow(unsafe_code)]
fn words(map: &memmap2::MmapRaw, number: u32) -> impl Iterator<Item = &AtomicU64> {
    let first = (number % SLOTS) as usize * (SLOT / 8);
    let base = map.as_mut_ptr().cast::<u64>();
    (first..first + SLOT / 8).map(move |i| {
        // SAFETY: the map is SLOTS * SLOT bytes long and page-aligned, so
        // word `i` (below SLOTS * SLOT / 8) is in bounds and aligned. The
        // file's blocks were allocated before it was mapped (so a store
        // needs no block a full disk could refuse), it is never shortened
        // while mapped (nothing in this library shortens it), and other
        // processes write these words
        // concurrently, so they are only accessed atomically.
        unsafe { AtomicU64::from_ptr(base.add(i)) }
    })
}

/// Writes `slot` into the slot of commit `number`.
fn store(map: &memmap2::MmapRaw, number: u32, slot: &[u8; SLOT]) {
    for (word, bytes) in words(map, number).zip(slot.chunks_exact(8)) {
        let mut le = [0u8; 8];
        le.copy_from_slice(bytes);
        word.store(u64::from_le_bytes(le), Ordering::Relaxed);
    }
}

/// Reads the slot of commit `number` into `slot`.
fn load(map: &memmap2::MmapRaw, number: u32, slot: &mut [u8; SLOT]) {
    for (word, bytes) in words(map, number).zip(slot.chunks_exact_mut(8)) {
        bytes.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
    }
}

/// One decoded slot.
#[derive(Debug)]
struct Slot {
    before: Header,
    after: Header,
    everything: bool,
    keys: Vec<MemoKey>,
    rows: Vec<i64>,
}

/// Lays a slot out: magic, flags, the two headers, the row and key
/// counts, the rows (8 bytes each), the keys (kind, 2-byte length,
/// bytes), and a checksum of all that. What does not fit is "everything".
fn encode(
    before: &Header,
    after: &Header,
    everything: bool,
    keys: &[MemoKey],
    rows: &[i64],
) -> [u8; SLOT] {
    let mut slot = [0u8; SLOT];
    let mut body = Vec::with_capacity(CHECKSUM - BODY);
    for row in rows {
        body.extend_from_slice(&row.to_le_bytes());
    }
    for key in keys {
        let (kind, bytes): (u8, &[u8]) = match key {
            MemoKey::Int(i) => (0, &i.to_le_bytes()[..]),
            MemoKey::Text(t) => (1, t.as_bytes()),
            MemoKey::Bytes(b) => (2, b),
            MemoKey::Packed(b) => (3, b),
        };
        body.push(kind);
        body.extend_from_slice(&(bytes.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
        body.extend_from_slice(bytes);
    }
    let fits = body.len() <= CHECKSUM - BODY
        && keys.len() <= usize::from(u16::MAX)
        && rows.len() <= usize::from(u16::MAX);
    let everything = everything || !fits;
    slot[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    slot[4..8].copy_from_slice(&u32::from(everything).to_le_bytes());
    for (i, word) in before.iter().chain(after.iter()).enumerate() {
        slot[8 + 4 * i..12 + 4 * i].copy_from_slice(&word.to_le_bytes());
    }
    if !everything {
        slot[104..106].copy_from_slice(&(rows.len() as u16).to_le_bytes());
        slot[106..108].copy_from_slice(&(keys.len() as u16).to_le_bytes());
        slot[BODY..BODY + body.len()].copy_from_slice(&body);
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&slot[..CHECKSUM]);
    slot[CHECKSUM..].copy_from_slice(&sum.to_le_bytes());
    slot
}

/// Reads a slot back; `None` when it is not one (never written, another
/// format, torn, or corrupt).
fn decode(slot: &[u8; SLOT]) -> Option<Slot> {
    let u16_at = |at: usize| u16::from_le_bytes([slot[at], slot[at + 1]]);
    let u32_at =
        |at: usize| u32::from_le_bytes([slot[at], slot[at + 1], slot[at + 2], slot[at + 3]]);
    let sum = u64::from_le_bytes(slot[CHECKSUM..].try_into().ok()?);
    if u32_at(0) != MAGIC || xxhash_rust::xxh3::xxh3_64(&slot[..CHECKSUM]) != sum {
        return None;
    }
    let flags = u32_at(4);
    let header = |first: usize| -> Header { std::array::from_fn(|i| u32_at(first + 4 * i)) };
    let mut decoded = Slot {
        before: header(8),
        after: header(56),
        everything: flags & EVERYTHING != 0,
        keys: Vec::new(),
        rows: Vec::new(),
    };
    if decoded.everything {
        return Some(decoded);
    }
    let body = &slot[BODY..CHECKSUM];
    let mut at = 0;
    for _ in 0..u16_at(104) {
        let bytes = body.get(at..at + 8)?;
        decoded
            .rows
            .push(i64::from_le_bytes(bytes.try_into().ok()?));
        at += 8;
    }
    for _ in 0..u16_at(106) {
        let kind = *body.get(at)?;
        let len = usize::from(u16::from_le_bytes(
            body.get(at + 1..at + 3)?.try_into().ok()?,
        ));
        let bytes = body.get(at + 3..at + 3 + len)?;
        at += 3 + len;
        decoded.keys.push(match kind {
            0 => MemoKey::Int(i64::from_le_bytes(bytes.try_into().ok()?)),
            1 => MemoKey::Text(String::from_utf8(bytes.to_vec()).ok()?),
            2 => MemoKey::Bytes(bytes.to_vec()),
            3 => MemoKey::Packed(bytes.to_vec()),
            _ => return None,
        });
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Res = Result<(), Box<dyn std::error::Error>>;

    fn header(change: u32, salt: u32) -> Header {
        let mut h = [0u32; 12];
        h[0] = 3_007_000;
        h[CHANGE] = change;
        h[8] = salt;
        h
    }

    #[test]
    fn a_chain_of_recorded_commits_names_what_they_changed() -> Res {
        let dir = tempfile::tempdir()?;
        let mut feed = Feed::new(&dir.path().join("cache.db"));
        let (h1, h2, h3) = (header(1, 7), header(2, 7), header(3, 7));
        feed.publish(&h1, &h2, false, &[MemoKey::Text("a".into())], &[5]);
        feed.publish(
            &h2,
            &h3,
            false,
            &[MemoKey::Int(-3), MemoKey::Bytes(vec![0; 40])],
            &[],
        );
        let caught = feed.read(&h1, &h3);
        let want = Catch::Changed {
            keys: vec![
                MemoKey::Text("a".into()),
                MemoKey::Int(-3),
                MemoKey::Bytes(vec![0; 40]),
            ],
            rows: vec![5],
        };
        assert_eq!(caught, want);
        // Another process's feed handle reads the same.
        let mut other = Feed::new(&dir.path().join("cache.db"));
        assert_eq!(other.read(&h2, &h3), feed.read(&h2, &h3));
        Ok(())
    }

    #[test]
    fn gaps_and_strangers_break_the_chain_and_the_newest_may_wait() -> Res {
        let dir = tempfile::tempdir()?;
        let mut feed = Feed::new(&dir.path().join("cache.db"));
        let (h1, h2, h3, h4) = (header(1, 7), header(2, 7), header(3, 7), header(4, 7));
        feed.publish(&h1, &h2, false, &[], &[]);
        // Commit 3 not recorded: pending while it is the newest, broken
        // once a later commit exists.
        assert_eq!(feed.read(&h2, &h3), Catch::Pending);
        feed.publish(&h3, &h4, false, &[], &[]);
        assert_eq!(feed.read(&h1, &h4), Catch::Broken);
        // A slot whose "before" is not the header the memo knows.
        assert_eq!(feed.read(&header(1, 8), &h2), Catch::Pending);
        assert_eq!(feed.read(&header(0, 8), &h2), Catch::Broken);
        // The current header is not the recorded "after" (a log restart).
        assert_eq!(feed.read(&h1, &header(2, 9)), Catch::Broken);
        // Same counter, or too far behind.
        assert_eq!(feed.read(&h2, &header(2, 9)), Catch::Broken);
        assert_eq!(feed.read(&h1, &header(1 + SLOTS, 7)), Catch::Broken);
        Ok(())
    }

    #[test]
    fn everything_and_overflow_break_the_chain() -> Res {
        let dir = tempfile::tempdir()?;
        let mut feed = Feed::new(&dir.path().join("cache.db"));
        let (h1, h2) = (header(1, 7), header(2, 7));
        feed.publish(&h1, &h2, true, &[MemoKey::Int(1)], &[]);
        assert_eq!(feed.read(&h1, &h2), Catch::Broken);
        let long = MemoKey::Bytes(vec![1; CHECKSUM - BODY]);
        feed.publish(&h1, &h2, false, &[long], &[]);
        assert_eq!(feed.read(&h1, &h2), Catch::Broken);
        let many: Vec<i64> = (0..60).collect();
        feed.publish(&h1, &h2, false, &[], &many);
        assert_eq!(feed.read(&h1, &h2), Catch::Broken);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_place_of_the_file_is_never_written_through() -> Res {
        let dir = tempfile::tempdir()?;
        let outside = tempfile::NamedTempFile::new()?;
        std::fs::write(outside.path(), b"not the cache's")?;
        let db = dir.path().join("cache.db");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("cache.db-memo"))?;
        let mut feed = Feed::new(&db);
        let (h1, h2) = (header(1, 7), header(2, 7));
        feed.publish(&h1, &h2, false, &[MemoKey::Int(1)], &[]);
        assert_eq!(feed.read(&h1, &h2), Catch::Broken);
        assert_eq!(std::fs::read(outside.path())?, b"not the cache's");
        Ok(())
    }

    #[test]
    fn a_feed_that_could_not_be_mapped_is_not_tried_again_at_once() -> Res {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("later").join("cache.db");
        let mut feed = Feed::new(&db);
        let (h1, h2) = (header(1, 7), header(2, 7));
        feed.publish(&h1, &h2, false, &[], &[]);
        assert_eq!(feed.read(&h1, &h2), Catch::Broken);
        std::fs::create_dir(dir.path().join("later"))?;
        feed.publish(&h1, &h2, false, &[], &[]);
        assert_eq!(feed.read(&h1, &h2), Catch::Broken);
        feed.forget();
        feed.publish(&h1, &h2, false, &[], &[]);
        let nothing = Catch::Changed {
            keys: vec![],
            rows: vec![],
        };
        assert_eq!(feed.read(&h1, &h2), nothing);
        Ok(())
    }

    #[test]
    fn a_torn_or_foreign_slot_is_no_slot() -> Res {
        let (h1, h2) = (header(1, 7), header(2, 7));
        let slot = encode(&h1, &h2, false, &[MemoKey::Text("k".into())], &[1]);
        assert!(decode(&slot).is_some());
        for at in [0, 5, 30, 70, BODY, BODY + 9, CHECKSUM] {
            let mut torn = slot;
            torn[at] ^= 0x40;
            assert!(decode(&torn).is_none(), "byte {at} changed");
        }
        assert!(decode(&[0u8; SLOT]).is_none());
        Ok(())
    }
}
