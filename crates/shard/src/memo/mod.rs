//! The read memo: inline values this process has read, answered again
//! without SQLite for as long as they are unchanged.
//!
//! A read through SQLite costs about 2 µs here even when every page is
//! cached: it takes and releases a read lock (two `fcntl` calls) and walks
//! two B-trees. The memo answers a repeated read in a hash lookup, and stays
//! exactly as fresh as SQLite: before using it, a read compares the header
//! of SQLite's WAL index (the first 48 bytes of `cache.db-shm`, which every
//! commit of every process rewrites, bumping its change counter) with the
//! header the memo was filled at. Any difference and the memo is not used.
//!
//! - A read through SQLite is remembered only when the header was the same
//!   just before and just after it, so the row it read is the state at
//!   that header.
//! - A commit of this handle (read at `BEGIN IMMEDIATE`, when no other
//!   writer can commit, and again after `COMMIT`) keeps the memo when the
//!   change counter moved by exactly its own commit, dropping the entries
//!   of the keys and rows the transaction changed. Every write operation
//!   says what it changed ([`Changes`]); one that does not drops the whole
//!   memo.
//! - Other handles' and processes' commits are caught up with through the
//!   commit feed ([`crate::feed`]), which names what each of them changed;
//!   a commit it cannot account for drops the whole memo.
//! - A memo whose rows are seldom read again stops filling for a while
//!   ([`State::spent`], [`State::too_wide`]).
//! - Only text, bytes, integer and MessagePack keys with inline values are
//!   kept. A float key can name the same row as an integer one (SQLite
//!   compares `1` and `1.0` equal), so a write under a float key drops the
//!   whole memo and a read under one never uses it.
//! - Only in WAL mode (there is no WAL index otherwise), never inside
//!   [`Cache::transact`](crate::Cache::transact), and only while this
//!   process holds a connection to the database, which keeps SQLite from
//!   truncating the index file under the map.

mod key;
mod shm;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::types::Value;

use crate::codec::Key;
use crate::feed::{Catch, Feed};
use key::Keyed;
pub(crate) use key::{KeyRef, MemoKey};
pub(crate) use shm::Header;
use shm::{CHANGE, map, read_header};

/// Rough bookkeeping bytes of one entry beyond its key and value.
const ENTRY_OVERHEAD: usize = 96;
/// The most reads a wasted filling makes skip filling.
const MAX_SKIP: u64 = 1 << 16;
/// The most times the skip doubles.
const MAX_DOUBLINGS: u32 = 10;
/// Rows remembered between looks at whether the reads of a memo that
/// stays current spread too wide ([`State::too_wide`]).
const JUDGED_EVERY: u64 = 1024;
/// Reads in a row that wait for the newest commit to reach the feed.
const MAX_PENDING: u32 = 16;

/// A remembered row: its inline value with the metadata a read returns.
pub(crate) struct Memoed {
    pub(crate) rowid: i64,
    pub(crate) mode: i64,
    pub(crate) value: Value,
    pub(crate) expire: Option<f64>,
    pub(crate) tag: Option<Key>,
}

impl Memoed {
    fn len(&self) -> usize {
        let value = match &self.value {
            Value::Text(t) => t.len(),
            Value::Blob(b) => b.len(),
            _ => 8,
        };
        value + self.tag.as_ref().map_or(8, Key::stored_len)
    }
}

/// What one transaction changed, as far as the memo cares.
#[derive(Default)]
pub(crate) struct Changes {
    /// The running operation said what it changes.
    declared: bool,
    /// Something the memo cannot name changed: drop it all.
    all: bool,
    keys: Vec<MemoKey>,
    rows: Vec<i64>,
}

impl Changes {
    /// Starts an operation, which must declare what it changes.
    pub(crate) fn begin_op(&mut self) {
        self.declared = false;
    }

    /// Ends an operation: one that declared nothing may have changed anything.
    pub(crate) fn end_op(&mut self) {
        self.all |= !self.declared;
    }

    /// The operation changes the row of `key` (and rows it names with
    /// [`row`](Self::row)), nothing else the memo holds.
    pub(crate) fn key(&mut self, key: &Key) {
        self.declared = true;
        match MemoKey::of(key) {
            Some(k) => self.keys.push(k),
            None => self.all = true,
        }
    }

    /// The operation changes no value, expiry or tag (only bookkeeping).
    pub(crate) fn none(&mut self) {
        self.declared = true;
    }

    /// Row `rowid` was deleted.
    pub(crate) fn row(&mut self, rowid: i64) {
        self.rows.push(rowid);
    }
}

/// The memo of one cache handle (shared by its clones).
pub(crate) struct Memo {
    /// The database as the handle names it (`<dir>/cache.db`).
    db: PathBuf,
    /// The most bytes of keys and values held; 0 turns the memo off.
    budget: usize,
    state: Mutex<State>,
}

struct State {
    /// The WAL index SQLite uses: beside the database it really opens
    /// (see [`wal_index`]); `None` when that cannot be told, and the memo
    /// is then off.
    shm: Option<PathBuf>,
    /// What other handles' and processes' commits changed.
    feed: Feed,
    /// Reads that found the newest commit not yet in the feed, in a row.
    pending: u32,
    /// The generation of the handle's connections that `map` was made in.
    generation: Option<u64>,
    map: Option<memmap2::MmapRaw>,
    /// The header at which `entries` are the database's state.
    valid_at: Option<Header>,
    entries: HashMap<MemoKey, Memoed>,
    rows: HashMap<i64, MemoKey>,
    bytes: usize,
    /// Rows remembered, and reads answered, since the memo was last
    /// emptied or looked at ([`State::too_wide`]).
    fills: u64,
    hits: u64,
    /// Reads still to come that will not fill the memo (see [`State::spent`]).
    skip: u64,
    /// How many fillings in a row were wasted.
    wasted: u32,
    /// What the memo did since the handle opened (see [`crate::Counters`]).
    counted: Counted,
}

/// What a memo did since its handle opened.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counted {
    /// Reads answered from memory.
    pub(crate) answers: u64,
    /// Catch-ups through the feed: others' commits accounted for.
    pub(crate) catch_ups: u64,
    /// Times the memo was emptied because a commit could not be
    /// accounted for.
    pub(crate) restarts: u64,
    /// Commits of this handle recorded in the feed.
    pub(crate) published: u64,
}

impl State {
    fn clear(&mut self) {
        self.valid_at = None;
        self.entries.clear();
        self.rows.clear();
        self.bytes = 0;
        self.fills = 0;
        self.hits = 0;
        self.pending = 0;
    }

    /// Judges the filling that ends as the memo empties (out of date, or
    /// over its budget): a row remembered costs about a fifth of what a
    /// read answered from memory saves, so it was wasted when fewer than
    /// one in four rows were read again.
    fn spent(&mut self) {
        if self.hits * 4 < self.fills {
            self.back_off();
        } else if self.fills > 0 {
            self.wasted = 0;
        }
        self.clear();
    }

    /// After a wasted filling, as many reads as it filled skip filling,
    /// twice as many after each wasted filling in a row; one worthwhile
    /// filling ends the back-off.
    fn back_off(&mut self) {
        self.skip = (self.fills << self.wasted).min(MAX_SKIP);
        self.wasted = (self.wasted + 1).min(MAX_DOUBLINGS);
    }

    /// Whether the reads of a memo that is still filling look spread over
    /// more rows than it can hold: reading at random among `w` rows with
    /// `e` remembered, about `e/w` of the reads are answered, so the rows
    /// read number about `e` divided by the share of reads answered since
    /// the last look. Rows read more often than others only make that
    /// estimate smaller.
    fn too_wide(&self, budget: usize) -> bool {
        let held = self.entries.len().max(1) as u64;
        let holds = (budget / (self.bytes / held as usize).max(1)) as u64;
        self.hits == 0 || held.saturating_mul(self.hits + self.fills) / self.hits > 2 * holds
    }

    /// Brings a memo valid at an older header up to header `to` with what
    /// the feed says the commits in between changed; empties it when the
    /// feed cannot say, and leaves it as it is while the newest commit is
    /// not recorded yet (for at most [`MAX_PENDING`] reads in a row).
    fn catch_up(&mut self, to: &Header) {
        let Some(at) = self.valid_at else {
            return;
        };
        match self.feed.read(&at, to) {
            Catch::Changed { keys, rows } => {
                self.forget(&keys, &rows);
                self.valid_at = Some(*to);
                self.pending = 0;
                self.counted.catch_ups += 1;
            }
            Catch::Pending if self.pending < MAX_PENDING => self.pending += 1,
            Catch::Pending | Catch::Broken => {
                self.counted.restarts += 1;
                self.spent();
            }
        }
    }

    /// Drops the entries of `keys` and of the rows `rows`.
    fn forget(&mut self, keys: &[MemoKey], rows: &[i64]) {
        for key in keys {
            self.remove(key);
        }
        for rowid in rows {
            if let Some(key) = self.rows.get(rowid).cloned() {
                self.remove(&key);
            }
        }
    }

    fn remove(&mut self, key: &MemoKey) {
        if let Some(old) = self.entries.remove(key) {
            self.rows.remove(&old.rowid);
            self.bytes -= key.len() + old.len() + ENTRY_OVERHEAD;
        }
    }

    /// The current header, mapping the index file first if this process
    /// has not yet. The caller holds a connection of this process.
    fn header(&mut self, db: &Path, generation: u64) -> Option<Header> {
        if self.generation != Some(generation) {
            // Every connection of this process may have closed since the
            // map was made (or this is a child after fork, which makes its
            // own): another process may then have made the index file
            // anew (or `cache.db` may now be another link), and the old map
            // would show a header that never changes. Map afresh.
            self.clear();
            self.map = None;
            self.generation = Some(generation);
            let real = resolved(db);
            self.shm = real.as_deref().map(|db| beside(db, "-shm"));
            match real {
                Some(real) => self.feed = Feed::new(&real),
                None => self.feed.forget(),
            }
        }
        if self.map.is_none() {
            self.map = map(self.shm.as_ref()?);
        }
        read_header(self.map.as_ref()?)
    }
}

/// `db` with `suffix` appended to its file name.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The database file SQLite opens for the name `db`: SQLite resolves
/// symbolic links in a database's name and keeps its WAL index beside the
/// file the links lead to, so a `cache.db` that is a link has its index
/// (and so its feed) in the target's folder, not beside the link. `None`
/// when the name cannot be resolved.
fn resolved(db: &Path) -> Option<PathBuf> {
    match std::fs::canonicalize(db) {
        Ok(real) => Some(real),
        // No database (yet, or any more): its folder resolved, as SQLite
        // would name a file made there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = db.file_name()?;
            let folder = db.parent().filter(|p| !p.as_os_str().is_empty())?;
            if std::fs::symlink_metadata(db).is_ok() {
                // A dangling link: where SQLite would go is not ours to
                // guess.
                return None;
            }
            Some(std::fs::canonicalize(folder).ok()?.join(name))
        }
        Err(_) => None,
    }
}

impl Memo {
    /// A memo for the database `db` holding at most `budget` bytes.
    pub(crate) fn new(db: &Path, budget: usize) -> Self {
        Memo {
            db: db.to_path_buf(),
            budget,
            state: Mutex::new(State {
                shm: None,
                feed: Feed::new(db),
                pending: 0,
                generation: None,
                map: None,
                valid_at: None,
                entries: HashMap::new(),
                rows: HashMap::new(),
                bytes: 0,
                fills: 0,
                hits: 0,
                skip: 0,
                wasted: 0,
                counted: Counted::default(),
            }),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// What this memo did since its handle opened.
    pub(crate) fn counted(&self) -> Counted {
        self.state.lock().counted
    }

    /// The WAL-index header now; `None` when the memo is off or the index
    /// is unreadable. The caller holds a connection of this process.
    pub(crate) fn header(&self, generation: u64) -> Option<Header> {
        if !self.enabled() {
            return None;
        }
        self.state.lock().header(&self.db, generation)
    }

    /// Runs `f` on the remembered row of `key` if the memo is current;
    /// else gives the header now, at which a read may start and fill the
    /// memo, or `None` when the read is not to fill it.
    pub(crate) fn get<T>(
        &self,
        generation: u64,
        key: KeyRef<'_>,
        f: impl FnOnce(&Memoed) -> T,
    ) -> Result<T, Option<Header>> {
        let mut state = self.state.lock();
        let now = state.header(&self.db, generation).ok_or(None)?;
        if state.valid_at.is_some_and(|at| at != now) {
            state.catch_up(&now);
        }
        match state.valid_at {
            Some(at) if at == now => {
                if let Some(row) = state.entries.get(&key as &dyn Keyed) {
                    let answer = f(row);
                    state.hits += 1;
                    state.counted.answers += 1;
                    return Ok(answer);
                }
            }
            // Waiting for the newest commit's record: no filling meanwhile.
            Some(_) => return Err(None),
            None => {}
        }
        if state.skip > 0 {
            state.skip -= 1;
            return Err(None);
        }
        Err(Some(now))
    }

    /// Remembers the row of `key`, read by a read that began at header
    /// `at`, if the header is still `at` (so the row is the state at it).
    pub(crate) fn insert(&self, generation: u64, at: Header, key: MemoKey, row: Memoed) {
        let size = key.len() + row.len() + ENTRY_OVERHEAD;
        if size > self.budget {
            return;
        }
        let mut state = self.state.lock();
        if state.header(&self.db, generation) != Some(at) {
            return;
        }
        if state.valid_at != Some(at) {
            state.spent();
            state.valid_at = Some(at);
        }
        state.remove(&key);
        if state.bytes + size > self.budget {
            state.spent();
            state.valid_at = Some(at);
        }
        state.bytes += size;
        state.fills += 1;
        if state.fills >= JUDGED_EVERY {
            if state.too_wide(self.budget) {
                state.back_off();
                state.clear();
            } else {
                state.fills = 0;
                state.hits = 0;
            }
        }
        state.rows.insert(row.rowid, key.clone());
        state.entries.insert(key, row);
    }

    /// After this handle's commit: `before` is the header read once the
    /// write lock was held, `logged` whether the commit wrote to the log.
    /// Returns the header the commit left when the header moved by exactly
    /// that commit (or, for one that logged nothing, not at all).
    pub(crate) fn committed(
        &self,
        generation: u64,
        before: Option<Header>,
        logged: bool,
        changes: &Changes,
    ) -> Option<Header> {
        let before = before?;
        let mut state = self.state.lock();
        let Some(after) = state.header(&self.db, generation) else {
            state.clear();
            return None;
        };
        let ours_alone = if logged {
            after[CHANGE] == before[CHANGE].wrapping_add(1)
        } else {
            after == before
        };
        if ours_alone && logged {
            let Changes {
                all, keys, rows, ..
            } = changes;
            state.feed.publish(&before, &after, *all, keys, rows);
            state.counted.published += 1;
        }
        if state.valid_at.is_some_and(|at| at != before && at != after) {
            state.catch_up(&before);
        }
        if state.valid_at == Some(before) && ours_alone && !changes.all {
            state.forget(&changes.keys, &changes.rows);
            state.valid_at = Some(after);
        } else if state.valid_at != Some(after) {
            // Filled at `after` by a read racing this commit's bookkeeping:
            // that read saw the committed state. Anything else is stale.
            if state.valid_at.is_some() {
                state.counted.restarts += 1;
            }
            state.spent();
        }
        ours_alone.then_some(after)
    }
}

#[cfg(test)]
mod tests {
    use super::shm::{MAPPED, WAL_INDEX_VERSION};
    use super::*;
    use std::io::Write;

    type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

    /// The WAL-index header after commit number `change`.
    fn header(change: u32) -> Header {
        let mut words = [0u32; 12];
        words[0] = WAL_INDEX_VERSION;
        words[CHANGE] = change;
        words[3] = u32::from_ne_bytes([1, 0, 0, 0]);
        words
    }

    /// Writes the header after commit `change` to `db`-shm, as a commit
    /// of another process would. (Tests that want the feed to know
    /// nothing of the commits skip a number: a gap breaks its chain.)
    fn commit(db: &std::path::Path, change: u32) -> Res {
        let words = header(change);
        let bytes: Vec<u8> = (0..2)
            .flat_map(|_| words.iter().flat_map(|w| w.to_ne_bytes()))
            .chain(std::iter::repeat_n(0, 4096 - MAPPED))
            .collect();
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(shm)?;
        file.write_all(&bytes)?;
        Ok(())
    }

    /// A memo of `budget` bytes on a fresh database at commit 1.
    fn at_commit_one(budget: usize) -> Res<(tempfile::TempDir, std::path::PathBuf, Memo)> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("cache.db");
        let memo = Memo::new(&db, budget);
        commit(&db, 1)?;
        Ok((dir, db, memo))
    }

    #[derive(Debug, PartialEq)]
    enum Read {
        Hit,
        Filled,
        NotFilled,
    }

    /// Reads `key` as a get does, filling the memo when told to.
    fn read(memo: &Memo, key: i64) -> Read {
        match memo.get(0, KeyRef::Int(key), |_| ()) {
            Ok(()) => Read::Hit,
            Err(None) => Read::NotFilled,
            Err(Some(at)) => {
                let row = Memoed {
                    rowid: key,
                    mode: 1,
                    value: Value::Integer(key),
                    expire: None,
                    tag: None,
                };
                memo.insert(0, at, MemoKey::Int(key), row);
                Read::Filled
            }
        }
    }

    #[test]
    fn wasted_fillings_skip_filling_and_one_that_pays_ends_it() -> Res {
        let (_dir, db, memo) = at_commit_one(1 << 20)?;
        for key in 0..4 {
            assert_eq!(read(&memo, key), Read::Filled);
        }
        assert_eq!(read(&memo, 0), Read::Hit);
        // Another commit: 4 rows remembered, 1 read again. Worth it.
        commit(&db, 3)?;
        for key in 0..4 {
            assert_eq!(read(&memo, key), Read::Filled);
        }
        // Wasted: the next 4 reads skip filling.
        commit(&db, 5)?;
        for key in 0..4 {
            assert_eq!(read(&memo, key), Read::NotFilled);
        }
        assert_eq!(read(&memo, 9), Read::Filled);
        // Wasted again (1 row, no read): twice as many reads skip.
        commit(&db, 7)?;
        assert_eq!(read(&memo, 9), Read::NotFilled);
        assert_eq!(read(&memo, 9), Read::NotFilled);
        assert_eq!(read(&memo, 9), Read::Filled);
        assert_eq!(read(&memo, 9), Read::Hit);
        // That filling paid: after the next commit reads fill at once, and
        // the next wasted filling skips as few reads as the first.
        commit(&db, 9)?;
        assert_eq!(read(&memo, 9), Read::Filled);
        commit(&db, 11)?;
        assert_eq!(read(&memo, 9), Read::NotFilled);
        assert_eq!(read(&memo, 9), Read::Filled);
        Ok(())
    }

    #[test]
    fn recorded_commits_of_others_drop_only_what_they_changed() -> Res {
        let (_dir, db, memo) = at_commit_one(1 << 20)?;
        for key in 0..4 {
            assert_eq!(read(&memo, key), Read::Filled);
        }
        // Another handle's commits: key 1 changed, then row 2 deleted.
        let mut other = Feed::new(&db);
        other.publish(&header(1), &header(2), false, &[MemoKey::Int(1)], &[]);
        other.publish(&header(2), &header(3), false, &[], &[2]);
        commit(&db, 3)?;
        assert_eq!(read(&memo, 0), Read::Hit);
        assert_eq!(read(&memo, 1), Read::Filled);
        assert_eq!(read(&memo, 2), Read::Filled);
        assert_eq!(read(&memo, 3), Read::Hit);
        assert_eq!(read(&memo, 1), Read::Hit);
        // A commit that changed more than it could name.
        other.publish(&header(3), &header(4), true, &[], &[]);
        commit(&db, 4)?;
        assert_eq!(read(&memo, 0), Read::Filled);
        assert_eq!(read(&memo, 3), Read::Filled);
        Ok(())
    }

    #[test]
    fn an_unrecorded_newest_commit_is_waited_for_then_given_up_on() -> Res {
        let (_dir, db, memo) = at_commit_one(1 << 20)?;
        assert_eq!(read(&memo, 0), Read::Filled);
        assert_eq!(read(&memo, 1), Read::Filled);
        // Commit 2 is not in the feed yet: no answers and no filling.
        commit(&db, 2)?;
        assert_eq!(read(&memo, 0), Read::NotFilled);
        // Its record arrives: the memo catches up.
        let mut other = Feed::new(&db);
        other.publish(&header(1), &header(2), false, &[MemoKey::Int(1)], &[]);
        assert_eq!(read(&memo, 0), Read::Hit);
        assert_eq!(read(&memo, 1), Read::Filled);
        // Commit 3 never arrives (python-diskcache wrote it).
        commit(&db, 3)?;
        for _ in 0..MAX_PENDING {
            assert_eq!(read(&memo, 0), Read::NotFilled);
        }
        assert_eq!(read(&memo, 0), Read::Filled);
        assert_eq!(read(&memo, 0), Read::Hit);
        Ok(())
    }

    #[test]
    fn reads_spread_over_many_rows_stop_filling_a_current_memo() -> Res {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("cache.db");
        // Room for about 8,700 of the test's rows.
        let budget = 1 << 20;
        commit(&db, 1)?;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |rows: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % rows) as i64
        };
        // Random reads among 4,000 rows: the memo keeps filling until it
        // holds them all, far past the first look at its spread.
        let memo = Memo::new(&db, budget);
        for _ in 0..40_000 {
            read(&memo, next(4000));
        }
        for key in 0..4000 {
            assert_eq!(read(&memo, key), Read::Hit, "row {key}");
        }
        // Random reads among a million rows: after the first look the
        // memo empties, and the next reads skip filling.
        let memo = Memo::new(&db, budget);
        for _ in 0..JUDGED_EVERY {
            assert_eq!(read(&memo, next(1_000_000)), Read::Filled);
        }
        assert_eq!(read(&memo, next(1_000_000)), Read::NotFilled);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn the_resolved_database_is_the_file_sqlite_names() -> Res {
        let real = tempfile::tempdir()?;
        let links = tempfile::tempdir()?;
        let target = real.path().join("cache.db");
        rusqlite::Connection::open(&target)?.execute_batch("CREATE TABLE t (x)")?;
        // A link to a folder holding a link to the database.
        std::os::unix::fs::symlink(real.path(), links.path().join("folder"))?;
        std::os::unix::fs::symlink(
            links.path().join("folder").join("cache.db"),
            links.path().join("cache.db"),
        )?;
        let named = links.path().join("cache.db");
        let conn = rusqlite::Connection::open(&named)?;
        let sqlite = conn.path().ok_or("no file name")?;
        assert_eq!(resolved(&named).as_deref(), Some(Path::new(sqlite)));
        assert_eq!(resolved(&named), Some(std::fs::canonicalize(&target)?));
        // No database yet: beside the resolved folder.
        let missing = links.path().join("folder").join("other.db");
        assert_eq!(
            resolved(&missing),
            Some(std::fs::canonicalize(real.path())?.join("other.db"))
        );
        // A dangling link: no guess.
        std::os::unix::fs::symlink(real.path().join("gone"), links.path().join("dangling"))?;
        assert_eq!(resolved(&links.path().join("dangling")), None);
        Ok(())
    }

    #[test]
    fn a_memo_over_budget_judges_its_filling_too() -> Res {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("cache.db");
        // Room for two rows.
        let memo = Memo::new(&db, 2 * (8 + 8 + 8 + ENTRY_OVERHEAD));
        commit(&db, 1)?;
        assert_eq!(read(&memo, 1), Read::Filled);
        assert_eq!(read(&memo, 2), Read::Filled);
        // The third row overflows a filling that no read used: it is
        // remembered, and the next two reads skip filling.
        assert_eq!(read(&memo, 3), Read::Filled);
        assert_eq!(read(&memo, 3), Read::Hit);
        assert_eq!(read(&memo, 1), Read::NotFilled);
        assert_eq!(read(&memo, 2), Read::NotFilled);
        assert_eq!(read(&memo, 1), Read::Filled);
        assert_eq!(read(&memo, 1), Read::Hit);
        Ok(())
    }
}
