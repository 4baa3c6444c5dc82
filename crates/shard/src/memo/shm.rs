//! The WAL-index header, read the way SQLite's readers read it, through a
//! read-only map of the first bytes of `cache.db-shm`.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering, fence};

/// One copy of SQLite's WAL-index header (`WalIndexHdr`), as 12 words.
pub(crate) type Header = [u32; 12];
/// The bytes mapped: the header's two copies.
pub(super) const MAPPED: usize = 96;
/// The header's format version (`iVersion`), word 0.
pub(super) const WAL_INDEX_VERSION: u32 = 3_007_000;
/// Word 2: the change counter (`iChange`), bumped by every commit.
pub(crate) const CHANGE: usize = 2;

/// WAL-index files this process opened, by path, never closed while the
/// path still names them. Closing any descriptor of a file drops every
/// `fcntl` lock the process holds on it (POSIX), SQLite's own among them:
/// its lock that keeps other processes from truncating the file.
static OPENED: std::sync::Mutex<Vec<(PathBuf, File)>> = std::sync::Mutex::new(Vec::new());

/// Maps the two header copies of the WAL-index file read-only. A link in
/// its place is never followed (SQLite refuses one too).
#[cfg(unix)]
pub(super) fn map(shm: &PathBuf) -> Option<memmap2::MmapRaw> {
    use std::os::unix::fs::MetadataExt;
    let named = std::fs::symlink_metadata(shm).ok()?;
    if !named.is_file() || named.len() < MAPPED as u64 {
        return None;
    }
    let mut opened = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    let same = |f: &File| {
        f.metadata()
            .is_ok_and(|m| (m.dev(), m.ino()) == (named.dev(), named.ino()))
    };
    let at = match opened.iter().position(|(p, _)| p == shm) {
        Some(i) if same(&opened[i].1) => i,
        found => {
            let file = crate::files::at::open_existing(shm).ok()?;
            match found {
                // The path names a new file: SQLite made it after every
                // connection to the old one closed, so closing ours drops
                // no lock anyone holds.
                Some(i) => opened[i].1 = file,
                None => opened.push((shm.clone(), file)),
            }
            found.unwrap_or(opened.len() - 1)
        }
    };
    memmap2::MmapOptions::new()
        .len(MAPPED)
        .map_raw_read_only(&opened[at].1)
        .ok()
}

#[cfg(not(unix))]
pub(super) fn map(_: &PathBuf) -> Option<memmap2::MmapRaw> {
    None
}

/// Reads the header as SQLite's readers do: copy one, a barrier, copy two
/// (writers write copy two first); torn or uninitialised reads give `None`.
#[allow(unsafe_code)]
pub(super) fn read_header(map: &memmap2::MmapRaw) -> Option<Header> {
    let words = map.as_ptr().cast::<u32>();
    let read = |copy: usize| -> Header {
        std::array::from_fn(|i| {
            // SAFETY: the map is MAPPED bytes long and page-aligned, so
            // each of these 24 words is in bounds and aligned. The file
            // stays at least that long while this process holds a
            // connection (SQLite truncates it only when the first
            // connection of all opens it). Other processes write these
            // words concurrently; atomic loads are the right access, and
            // the two-copy comparison below rejects a torn read.
            unsafe { AtomicU32::from_ptr(words.add(copy * 12 + i).cast_mut()) }
                .load(Ordering::Acquire)
        })
    };
    let first = read(0);
    fence(Ordering::Acquire);
    let second = read(1);
    let initialised = first[3].to_ne_bytes()[0] == 1;
    (first == second && initialised && first[0] == WAL_INDEX_VERSION).then_some(first)
}
