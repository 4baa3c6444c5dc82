//! Value files: naming, writing, reading and removing them.
//!
//! A value file is named `ab/cd/<28 hex>.val` from 16 random bytes, is
//! written completely (and, with `synchronous = FULL`, synced) before the row
//! that names it commits, and is never modified afterwards: it is only ever
//! unlinked. Every name read from the database goes through [`resolve`],
//! which refuses anything that could leave the cache directory by its
//! spelling; every file operation then goes through [`at`], which opens
//! each folder below the directory relative to the one above it and never
//! follows a symbolic link, so a link placed anywhere below the directory
//! cannot lead a read, write, map or unlink outside it. A value file is
//! used only when the descriptor opened is a regular file of the row's
//! size, and is read up to that size only.

pub(crate) mod at;

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use at::Kind;

/// The database file's name; it and its `-wal`/`-shm` companions are never
/// value files.
pub(crate) const DB_NAME: &str = "cache.db";

/// Turns a stored relative file name into a path inside `dir`, refusing
/// names that are absolute, climb with `..`, or name the database.
pub(crate) fn resolve(dir: &Path, name: &str) -> Result<PathBuf> {
    components(name)?;
    Ok(dir.join(name))
}

/// The components of a stored relative file name, refusing names that are
/// absolute, climb with `..`, or name the database.
fn components(name: &str) -> Result<Vec<&OsStr>> {
    let rel = Path::new(name);
    let mut parts = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(part) => {
                if parts.is_empty() && part.to_string_lossy().starts_with(DB_NAME) {
                    return Err(Error::corrupt(format!(
                        "file name {name:?} names the database"
                    )));
                }
                parts.push(part);
            }
            _ => {
                return Err(Error::corrupt(format!(
                    "file name {name:?} would leave the cache directory"
                )));
            }
        }
    }
    if parts.is_empty() || name.contains('\0') || parts.len() > 8 {
        return Err(Error::corrupt(format!(
            "file name {name:?} is not a value file"
        )));
    }
    Ok(parts)
}

/// Why the folders of a value file could not be opened.
enum Walk {
    /// A folder is missing.
    Missing(io::Error),
    /// The component at this index is a link or no folder.
    Refused(usize, io::Error),
    /// Anything else.
    Failed(io::Error),
}

/// Opens the cache directory and each folder of `parts` but the last,
/// never following a link below the directory; with `create`, missing
/// folders are made. Returns the descriptor of the file's folder.
fn open_folders(dir: &Path, parts: &[&OsStr], create: bool) -> std::result::Result<OwnedFd, Walk> {
    let classify = |i: usize, e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            Walk::Missing(e)
        } else if at::refused(&e) {
            Walk::Refused(i, e)
        } else {
            Walk::Failed(e)
        }
    };
    // The directory itself is opened as the user named it: a failure there
    // is never a refused component.
    let mut fd = at::open_root(dir).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Walk::Missing(e)
        } else {
            Walk::Failed(e)
        }
    })?;
    for (i, part) in parts.iter().enumerate().take(parts.len().saturating_sub(1)) {
        let next = if create {
            at::make_folder(&fd, part)
        } else {
            at::open_folder(&fd, part)
        };
        fd = next.map_err(|e| classify(i, e))?;
    }
    Ok(fd)
}

/// The relative path of the first `count` components of `parts`.
fn prefix(parts: &[&OsStr], count: usize) -> PathBuf {
    parts.iter().take(count).collect()
}

/// The error for a value file whose folder at index `i` is a link or no
/// folder: the name leads somewhere the cache never goes.
fn refused_folder(dir: &Path, name: &str, parts: &[&OsStr], i: usize) -> Error {
    let folder = prefix(parts, i + 1);
    let what = match open_folders(dir, &parts[..i + 1], false) {
        Ok(parent) => match at::kind(&parent, parts[i]) {
            Ok(Kind::Link) => "a symbolic link",
            Ok(Kind::Special(kind)) => kind,
            _ => "not a folder",
        },
        Err(_) => "not a folder",
    };
    Error::corrupt(format!(
        "value file {name}: {} is {what} where a value folder belongs",
        folder.display()
    ))
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
    // A fresh name collides only by chance, a folder can vanish between
    // creating it and creating the file when another handle removes empty
    // folders, and a link (or anything but a folder) where a folder of the
    // name belongs is never written through: each is retried with another
    // name, a bounded number of times.
    let mut last_err = None;
    for _ in 0..16 {
        let name = new_name()?;
        let parts = components(&name)?;
        let path = dir.join(&name);
        let Some((file_name, _)) = parts.split_last() else {
            return Err(Error::corrupt("value file has no name"));
        };
        let folder = match open_folders(dir, &parts, true) {
            Ok(fd) => fd,
            Err(Walk::Missing(e) | Walk::Refused(_, e)) => {
                last_err = Some(Error::io(&path, e));
                continue;
            }
            Err(Walk::Failed(e)) => return Err(Error::io(&path, e)),
        };
        let mut file = match at::create_file(&folder, file_name) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AlreadyExists | io::ErrorKind::NotFound
                ) || at::refused(&e) =>
            {
                last_err = Some(Error::io(&path, e));
                continue;
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let written = copy_into(source, &mut file, durable).map_err(|e| {
            // The file and the folders made for it go (a full disk, say).
            remove(dir, &name);
            Error::io(&path, e)
        })?;
        if durable {
            rustix::fs::fsync(&folder)
                .map_err(|e| Error::io(path.parent().unwrap_or(dir), e.into()))?;
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

/// Opens the value file `name` for reading: a regular file reached with no
/// link followed, holding `expected` bytes if given. `Ok(None)` when it is
/// gone (removed by another handle after our read of its row). Returns the
/// file and its size.
fn open_value(dir: &Path, name: &str, expected: Option<u64>) -> Result<Option<(File, u64)>> {
    let parts = components(name)?;
    let path = dir.join(name);
    let Some((file_name, _)) = parts.split_last() else {
        return Err(Error::corrupt(format!(
            "file name {name:?} is not a value file"
        )));
    };
    let folder = match open_folders(dir, &parts, false) {
        Ok(fd) => fd,
        Err(Walk::Missing(_)) => return Ok(None),
        Err(Walk::Refused(i, _)) => return Err(refused_folder(dir, name, &parts, i)),
        Err(Walk::Failed(e)) => return Err(Error::io(path, e)),
    };
    let file = match at::open_file(&folder, file_name) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if at::refused(&e) => {
            let what = match at::kind(&folder, file_name) {
                Ok(Kind::Folder) => "a folder",
                _ => "a symbolic link",
            };
            return Err(Error::corrupt(format!(
                "value file {name} is {what}, not a regular file"
            )));
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let len = match at::kind_of(&file).map_err(|e| Error::io(&path, e))? {
        Kind::File(len) => len,
        Kind::Folder => return Err(Error::corrupt(format!("value file {name} is a folder"))),
        Kind::Link => {
            return Err(Error::corrupt(format!(
                "value file {name} is a symbolic link"
            )));
        }
        Kind::Special(kind) => {
            return Err(Error::corrupt(format!(
                "value file {name} is {kind}, not a regular file"
            )));
        }
    };
    if let Some(expected) = expected {
        if len != expected {
            return Err(Error::corrupt(format!(
                "value file {name} holds {len} bytes, its row says {expected}"
            )));
        }
    }
    Ok(Some((file, len)))
}

/// Whether the value file `name` can be opened for reading as a regular
/// file reached with no link followed (of any size); nothing is read.
pub(crate) fn readable(dir: &Path, name: &str) -> bool {
    matches!(open_value(dir, name, None), Ok(Some(_)))
}

/// Reads a value file, which must be a regular file (of `expected` bytes,
/// when given) reached with no link followed; no more than that size is
/// ever read. `Ok(None)` when it is gone.
pub(crate) fn read_sized(dir: &Path, name: &str, expected: Option<u64>) -> Result<Option<Vec<u8>>> {
    let Some((file, len)) = open_value(dir, name, expected)? else {
        return Ok(None);
    };
    let cap = usize::try_from(len).map_err(|_| {
        Error::corrupt(format!(
            "value file {name} holds {len} bytes, too many to read"
        ))
    })?;
    let mut bytes = Vec::with_capacity(cap);
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(dir.join(name), e))?;
    if bytes.len() != cap {
        return Err(Error::corrupt(format!(
            "value file {name} shrank to {} bytes while read, its size was {len}",
            bytes.len()
        )));
    }
    Ok(Some(bytes))
}

/// Maps a value file read-only; `Ok(None)` when it is gone. The file must
/// be a regular file reached with no link followed and hold `expected`
/// bytes (checked on the descriptor that is mapped), so a file replaced or
/// truncated behind the cache's back is reported instead of faulting on
/// access.
pub(crate) fn map(dir: &Path, name: &str, expected: u64) -> Result<Option<ValueBytes>> {
    let Some((file, len)) = open_value(dir, name, Some(expected))? else {
        return Ok(None);
    };
    let path = dir.join(name);
    // An empty file cannot be mapped; it keeps its path all the same.
    let map = if len == 0 {
        None
    } else {
        Some(mmap::map(&file).map_err(|e| Error::io(&path, e))?)
    };
    Ok(Some(ValueBytes::Mapped(MappedFile { map, path })))
}

/// Removes a value file (a missing one is fine), then its folders if they
/// are empty. Nothing is removed through a link: a link where a folder of
/// the name belongs stops the removal, and a link where the file belongs
/// is removed itself, never what it points to. Errors are ignored: another
/// handle may be removing the same file or writing into the same folder,
/// and a leftover is swept by [`Cache::check`](crate::Cache::check).
pub(crate) fn remove(dir: &Path, name: &str) {
    let Ok(parts) = components(name) else { return };
    let Ok(root) = at::open_root(dir) else { return };
    let mut folders = vec![root];
    for part in parts.iter().take(parts.len().saturating_sub(1)) {
        let Some(last) = folders.last() else { return };
        match at::open_folder(last, part) {
            Ok(fd) => folders.push(fd),
            Err(_) => return,
        }
    }
    let Some(file_name) = parts.last() else {
        return;
    };
    let Some(last) = folders.last() else { return };
    if at::unlink(last, file_name).is_err() {
        return;
    }
    // The folders, innermost first, each removed from the one above it.
    for i in (1..folders.len()).rev() {
        if at::remove_folder(&folders[i - 1], parts[i - 1]).is_err() {
            break;
        }
    }
}

/// What [`inspect`] found where a row's file belongs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// A regular file of this many bytes.
    File(u64),
    /// Nothing.
    Missing,
    /// A symbolic link at this path (a folder of the name, or the file).
    Link(PathBuf),
    /// Something that is no regular file (a FIFO, a device, a folder).
    Special(&'static str),
}

/// What is where the value file `name` belongs, without opening it or
/// following any link.
pub(crate) fn inspect(dir: &Path, name: &str) -> Result<Found> {
    let parts = components(name)?;
    let Some((file_name, _)) = parts.split_last() else {
        return Ok(Found::Missing);
    };
    let folder = match open_folders(dir, &parts, false) {
        Ok(fd) => fd,
        Err(Walk::Missing(_)) => return Ok(Found::Missing),
        Err(Walk::Refused(i, e)) => {
            let parent = open_folders(dir, &parts[..i + 1], false);
            let kind = parent.ok().map(|p| at::kind(&p, parts[i]));
            return match kind {
                Some(Ok(Kind::Link)) => Ok(Found::Link(dir.join(prefix(&parts, i + 1)))),
                Some(Ok(Kind::Special(kind))) => Ok(Found::Special(kind)),
                Some(Ok(Kind::File(_))) => Ok(Found::Special("a file where a folder belongs")),
                _ => Err(Error::io(dir.join(name), e)),
            };
        }
        Err(Walk::Failed(e)) => return Err(Error::io(dir.join(name), e)),
    };
    match at::kind(&folder, file_name) {
        Ok(Kind::File(len)) => Ok(Found::File(len)),
        Ok(Kind::Link) => Ok(Found::Link(dir.join(name))),
        Ok(Kind::Folder) => Ok(Found::Special("a folder")),
        Ok(Kind::Special(kind)) => Ok(Found::Special(kind)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Missing),
        Err(e) => Err(Error::io(dir.join(name), e)),
    }
}

/// Removes the symbolic link at `link` (a path [`inspect`] reported, inside
/// `dir`), never what it points to; anything else there is left alone.
pub(crate) fn remove_link(dir: &Path, link: &Path) -> Result<bool> {
    let Ok(rel) = link.strip_prefix(dir) else {
        return Ok(false);
    };
    let Some(rel) = rel.to_str() else {
        return Ok(false);
    };
    let parts = components(rel)?;
    let Some((last, _)) = parts.split_last() else {
        return Ok(false);
    };
    match open_folders(dir, &parts, false) {
        Ok(parent) => at::remove_link(&parent, last).map_err(|e| Error::io(link, e)),
        Err(_) => Ok(false),
    }
}

/// A value's bytes: owned, or a read-only memory map of its file.
#[derive(Debug)]
pub enum ValueBytes {
    /// Bytes copied out of the database.
    Owned(Vec<u8>),
    /// The value's file, memory-mapped (zero-copy).
    Mapped(MappedFile),
}

/// A value file, memory-mapped read-only, and its path.
///
/// It dereferences to the file's bytes. An empty file has no map (none can
/// be made of zero bytes) and reads as no bytes.
#[derive(Debug)]
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
    path: PathBuf,
}

impl MappedFile {
    /// The value file's path: the cache directory joined with the file name
    /// stored in the entry's row.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.map {
            Some(m) => m,
            None => &[],
        }
    }
}

impl AsRef<[u8]> for MappedFile {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl ValueBytes {
    /// True when the bytes are a memory map of the value file (an empty
    /// file has nothing to map: false, though [`path`](Self::path) names it).
    pub fn is_mapped(&self) -> bool {
        matches!(self, ValueBytes::Mapped(MappedFile { map: Some(_), .. }))
    }

    /// The path of the value's file when the value is file-backed (as the
    /// `name` of the file python-diskcache's `get(key, read=True)` opens);
    /// `None` for a value held in the database.
    ///
    /// The file is the cache's: read it, never write it. It is unlinked when
    /// the entry is replaced or removed (an open map stays valid).
    ///
    /// ```
    /// let cache = diskcache_shard::Cache::builder().min_file_size(16).open_temp()?;
    /// cache.set("big", serde_bytes::Bytes::new(&[1u8; 64]))?;
    /// cache.set("small", serde_bytes::Bytes::new(&[1u8; 4]))?;
    /// let big = cache.read("big")?.expect("stored");
    /// let path = big.path().expect("file-backed");
    /// assert!(path.starts_with(cache.directory()));
    /// assert_eq!(std::fs::read(path)?, vec![1u8; 64]);
    /// assert_eq!(cache.read("small")?.expect("stored").path(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> Option<&Path> {
        match self {
            ValueBytes::Owned(_) => None,
            ValueBytes::Mapped(file) => Some(file.path()),
        }
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
        // on this very descriptor that it is a regular file whose length is
        // the row's (so no FIFO, device or link target is mapped). A process outside the cache that
        // truncates the file while it is mapped can still make access
        // fault; that is the documented limit of `Cache::read`.
        unsafe { memmap2::Mmap::map(file) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

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
        assert_eq!(
            read_sized(tmp.path(), &name, Some(5))?.as_deref(),
            Some(&b"hello"[..])
        );
        let mapped = map(tmp.path(), &name, 5)?.ok_or(Error::NotFound)?;
        assert!(mapped.is_mapped());
        assert_eq!(&*mapped, b"hello");
        assert!(map(tmp.path(), &name, 6).is_err());
        remove(tmp.path(), &name);
        assert!(read_sized(tmp.path(), &name, None)?.is_none());
        let left = fs::read_dir(tmp.path())
            .map_err(|e| Error::io("tmp", e))?
            .count();
        assert_eq!(left, 0, "empty folders were left behind");
        Ok(())
    }

    #[test]
    fn links_below_the_directory_are_never_followed() -> Result<()> {
        let io = |e| Error::io("tmp", e);
        let tmp = tempfile::tempdir().map_err(io)?;
        let dir = tmp.path().join("cache");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(outside.join("cd")).map_err(io)?;
        fs::create_dir(&dir).map_err(io)?;
        fs::write(outside.join("cd").join("x.val"), b"outside").map_err(io)?;
        std::os::unix::fs::symlink(&outside, dir.join("ab")).map_err(io)?;
        let name = "ab/cd/x.val";
        assert!(matches!(
            read_sized(&dir, name, None),
            Err(Error::Corrupt { .. })
        ));
        assert!(matches!(map(&dir, name, 7), Err(Error::Corrupt { .. })));
        assert_eq!(inspect(&dir, name)?, Found::Link(dir.join("ab")));
        remove(&dir, name);
        assert_eq!(
            fs::read(outside.join("cd").join("x.val")).map_err(io)?,
            b"outside"
        );
        assert!(remove_link(&dir, &dir.join("ab"))?);
        assert!(fs::symlink_metadata(dir.join("ab")).is_err());
        assert!(outside.join("cd").join("x.val").exists());
        assert_eq!(inspect(&dir, name)?, Found::Missing);
        assert_eq!(read_sized(&dir, name, None)?, None);
        // A file link: the link is what a removal takes.
        fs::create_dir_all(dir.join("ab").join("cd")).map_err(io)?;
        std::os::unix::fs::symlink(outside.join("cd").join("x.val"), dir.join(name)).map_err(io)?;
        assert!(matches!(
            read_sized(&dir, name, None),
            Err(Error::Corrupt { .. })
        ));
        remove(&dir, name);
        assert!(fs::symlink_metadata(dir.join(name)).is_err());
        assert!(outside.join("cd").join("x.val").exists());
        Ok(())
    }
}
