//! Value files: naming, writing, reading and removing them.
//!
//! A value file is named `ab/cd/<28 hex>.val` from 16 random bytes, is
//! written completely (and, with `synchronous = FULL`, synced) before the row
//! that names it commits, and is never modified afterwards: it is only ever
//! unlinked. Every name read from the database goes through [`resolve`],
//! which refuses anything that could leave the cache directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The database file's name; it and its `-wal`/`-shm` companions are never
/// value files.
pub(crate) const DB_NAME: &str = "cache.db";

/// Turns a stored relative file name into a path inside `dir`, refusing
/// names that are absolute, climb with `..`, or name the database.
pub(crate) fn resolve(dir: &Path, name: &str) -> Result<PathBuf> {
    let rel = Path::new(name);
    let mut depth = 0;
    for component in rel.components() {
        match component {
            Component::Normal(part) => {
                if depth == 0 && part.to_string_lossy().starts_with(DB_NAME) {
                    return Err(Error::corrupt(format!(
                        "file name {name:?} names the database"
                    )));
                }
                depth += 1;
            }
            _ => {
                return Err(Error::corrupt(format!(
                    "file name {name:?} would leave the cache directory"
                )));
            }
        }
    }
    if depth == 0 || name.contains('\0') || depth > 8 {
        return Err(Error::corrupt(format!(
            "file name {name:?} is not a value file"
        )));
    }
    Ok(dir.join(rel))
}

/// A new random relative name `ab/cd/<28 hex>.val`.
fn new_name() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::io("getrandom", io::Error::other(e.to_string())))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}/{}/{}.val", &hex[..2], &hex[2..4], &hex[4..]))
}

/// Writes a new value file from `source`, returning its relative name and
/// its size in bytes. With `durable`, the file and its folder are synced.
pub(crate) fn write_new(dir: &Path, source: &mut dyn Read, durable: bool) -> Result<(String, u64)> {
    // A fresh name collides only by chance, and a folder can vanish between
    // creating it and creating the file when another handle removes empty
    // folders; both are retried a bounded number of times.
    let mut last_err = None;
    for _ in 0..16 {
        let name = new_name()?;
        let path = dir.join(&name);
        let Some(parent) = path.parent() else {
            return Err(Error::corrupt("value file has no folder"));
        };
        // Another handle may remove a folder the moment it is empty, even
        // between creating it and creating its subfolder: retry then too.
        match fs::create_dir_all(parent) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                last_err = Some(Error::io(parent, e));
                continue;
            }
            Err(e) => return Err(Error::io(parent, e)),
        }
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AlreadyExists | io::ErrorKind::NotFound
                ) =>
            {
                last_err = Some(Error::io(&path, e));
                continue;
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let written = copy_into(source, &mut file, durable).map_err(|e| {
            let _ = fs::remove_file(&path);
            Error::io(&path, e)
        })?;
        if durable {
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(parent, e))?;
        }
        return Ok((name, written));
    }
    Err(last_err.unwrap_or_else(|| Error::corrupt("could not create a value file")))
}

fn copy_into(source: &mut dyn Read, file: &mut File, durable: bool) -> io::Result<u64> {
    // 64 KiB: large enough for few system calls, small enough to come from
    // the heap (a 1 MiB buffer was an mmap and munmap per value); a large
    // slice is written past the buffer in one call anyway.
    let mut writer = io::BufWriter::with_capacity(64 << 10, &mut *file);
    let written = io::copy(source, &mut writer)?;
    writer.flush()?;
    drop(writer);
    if durable {
        file.sync_all()?;
    }
    Ok(written)
}

/// Reads a whole value file; `Ok(None)` when it is gone (removed by another
/// handle after our read of its row).
pub(crate) fn read(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let path = resolve(dir, name)?;
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Maps a value file read-only; `Ok(None)` when it is gone. The file must
/// hold `expected` bytes, so a file truncated behind the cache's back is
/// reported instead of faulting on access.
pub(crate) fn map(dir: &Path, name: &str, expected: u64) -> Result<Option<ValueBytes>> {
    let path = resolve(dir, name)?;
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
    if len != expected {
        return Err(Error::corrupt(format!(
            "{} holds {len} bytes, its row says {expected}",
            path.display()
        )));
    }
    if len == 0 {
        return Ok(Some(ValueBytes::Owned(Vec::new())));
    }
    Ok(Some(ValueBytes::Mapped(
        mmap::map(&file).map_err(|e| Error::io(&path, e))?,
    )))
}

/// Removes a value file (a missing one is fine), then its two folders if
/// they are empty. Errors are ignored: another handle may be removing the
/// same file or writing into the same folder, and a leftover is swept by
/// [`Cache::check`](crate::Cache::check).
pub(crate) fn remove(dir: &Path, name: &str) {
    let Ok(path) = resolve(dir, name) else { return };
    let _ = fs::remove_file(&path);
    let mut folder = path.parent();
    while let Some(f) = folder {
        if f == dir || !f.starts_with(dir) || fs::remove_dir(f).is_err() {
            break;
        }
        folder = f.parent();
    }
}

/// A value's bytes: owned, or a read-only memory map of its file.
#[derive(Debug)]
pub enum ValueBytes {
    /// Bytes copied out of the database.
    Owned(Vec<u8>),
    /// A memory map of the value's file (zero-copy).
    Mapped(memmap2::Mmap),
}

impl ValueBytes {
    /// True when the bytes are a memory map of the value file.
    pub fn is_mapped(&self) -> bool {
        matches!(self, ValueBytes::Mapped(_))
    }

    /// The bytes as an owned vector (copies a mapped file).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            ValueBytes::Owned(v) => v,
            ValueBytes::Mapped(m) => m.to_vec(),
        }
    }
}

impl Deref for ValueBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ValueBytes::Owned(v) => v,
            ValueBytes::Mapped(m) => m,
        }
    }
}

impl AsRef<[u8]> for ValueBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

#[allow(unsafe_code)]
mod mmap {
    use std::fs::File;

    pub(super) fn map(file: &File) -> std::io::Result<memmap2::Mmap> {
        // SAFETY: value files are written completely before the row naming
        // them commits and are never written again; the cache only unlinks
        // them, which leaves an existing mapping valid. The caller checked
        // the length against the row. A process outside the cache that
        // truncates the file while it is mapped can still make access
        // fault; that is the documented limit of `Cache::read`.
        unsafe { memmap2::Mmap::map(file) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        let dir = Path::new("/cache");
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "",
            "cache.db",
            "cache.db-wal",
            "cache.db-memo",
            "./",
        ] {
            assert!(resolve(dir, bad).is_err(), "{bad:?} accepted");
        }
        assert!(resolve(dir, "ab/cd/0123.val").is_ok());
    }

    #[test]
    fn write_read_map_remove() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let (name, size) = write_new(tmp.path(), &mut &b"hello"[..], true)?;
        assert_eq!(size, 5);
        assert_eq!(name.len(), 2 + 1 + 2 + 1 + 28 + 4);
        assert_eq!(read(tmp.path(), &name)?.as_deref(), Some(&b"hello"[..]));
        let mapped = map(tmp.path(), &name, 5)?.ok_or(Error::NotFound)?;
        assert!(mapped.is_mapped());
        assert_eq!(&*mapped, b"hello");
        assert!(map(tmp.path(), &name, 6).is_err());
        remove(tmp.path(), &name);
        assert!(read(tmp.path(), &name)?.is_none());
        let left = fs::read_dir(tmp.path())
            .map_err(|e| Error::io("tmp", e))?
            .count();
        assert_eq!(left, 0, "empty folders were left behind");
        Ok(())
    }
}
