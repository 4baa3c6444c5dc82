//! File operations relative to an open directory that never follow a
//! symbolic link: the building blocks that keep every read, write, map and
//! unlink of a value file inside the cache directory.
//!
//! The cache directory itself is opened by the path the user gave (links
//! in that path are the user's choice); every name below it is opened with
//! `O_NOFOLLOW` relative to the descriptor of the folder above it, so a
//! link placed anywhere below the directory makes the operation fail
//! instead of leaving the directory.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// What a name in a folder is, without following it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file of this many bytes.
    File(u64),
    /// A folder.
    Folder,
    /// A symbolic link.
    Link,
    /// Anything else: a FIFO, a socket, a device.
    Special(&'static str),
}

impl Kind {
    fn of(file_type: FileType, len: u64) -> Kind {
        match file_type {
            FileType::RegularFile => Kind::File(len),
            FileType::Directory => Kind::Folder,
            FileType::Symlink => Kind::Link,
            other => Kind::Special(describe(other)),
        }
    }
}

/// A file type in words, for error messages and check reports.
fn describe(file_type: FileType) -> &'static str {
    match file_type {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a folder",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "a file of unknown type",
    }
}

/// Whether `e` says a name opened as a folder with `O_NOFOLLOW` is a link
/// or not a folder (Linux says `ELOOP` for a link, FreeBSD `EMLINK`).
pub(crate) fn refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::LOOP | Errno::MLINK | Errno::NOTDIR)
    )
}

/// Opens the cache directory by the path given, links in it followed.
pub(crate) fn open_root(dir: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::open(dir, flags, Mode::empty())?)
}

/// Opens the folder `name` in `parent`; a link there is refused.
pub(crate) fn open_folder(parent: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?)
}

/// Opens the folder `name` in `parent`, making it first if it is missing;
/// a link there is refused, never followed or replaced.
pub(crate) fn make_folder(parent: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    let parent = parent.as_fd();
    match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o777)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    open_folder(parent, name)
}

/// Opens the value file `name` in `parent` for reading. A link is refused;
/// `O_NONBLOCK` keeps a FIFO from blocking the open (the caller checks the
/// kind of what it opened before reading).
pub(crate) fn open_file(parent: impl AsFd, name: &OsStr) -> io::Result<File> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(
        parent,
        name,
        flags,
        Mode::empty(),
    )?))
}

/// Creates the new value file `name` in `parent` (failing if anything,
/// a link included, is already there).
pub(crate) fn create_file(parent: impl AsFd, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::WRONLY
        | OFlags::CREATE
        | OFlags::EXCL
        | OFlags::NOFOLLOW
        | OFlags::NOCTTY
        | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(
        parent,
        name,
        flags,
        Mode::from_raw_mode(0o666),
    )?))
}

/// Opens (making it if missing) the file at `path` for reading and
/// writing; a link in the place of its last component is refused.
pub(crate) fn open_shared(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::open(
        path,
        flags,
        Mode::from_raw_mode(0o666),
    )?))
}

/// Opens the file at `path` read-only; a link in the place of its last
/// component is refused, and a FIFO does not block the open.
pub(crate) fn open_existing(path: &Path) -> io::Result<File> {
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::open(path, flags, Mode::empty())?))
}

/// The kind of an open file.
pub(crate) fn kind_of(file: &File) -> io::Result<Kind> {
    let stat = rustix::fs::fstat(file)?;
    Ok(Kind::of(
        FileType::from_raw_mode(stat.st_mode),
        u64::try_from(stat.st_size).unwrap_or(0),
    ))
}

/// The kind of `name` in `parent`, not following a link.
pub(crate) fn kind(parent: impl AsFd, name: &OsStr) -> io::Result<Kind> {
    let stat = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(Kind::of(
        FileType::from_raw_mode(stat.st_mode),
        u64::try_from(stat.st_size).unwrap_or(0),
    ))
}

/// Removes the file (or link: never what it points to) `name` in `parent`.
pub(crate) fn unlink(parent: impl AsFd, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::empty())?)
}

/// Removes the empty folder `name` in `parent` (a link there is not
/// removed: it is no folder).
pub(crate) fn remove_folder(parent: impl AsFd, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?)
}

/// Removes `name` in `parent` if it is a symbolic link; the link's target
/// is never touched. Returns whether it was one.
pub(crate) fn remove_link(parent: impl AsFd, name: &OsStr) -> io::Result<bool> {
    let parent = parent.as_fd();
    if kind(parent, name)? != Kind::Link {
        return Ok(false);
    }
    unlink(parent, name)?;
    Ok(true)
}

/// The names in the folder `dir` (without `.` and `..`) with their kinds,
/// links not followed.
pub(crate) fn list(dir: impl AsFd) -> io::Result<Vec<(OsString, Kind)>> {
    let dir = dir.as_fd();
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::RegularFile | FileType::Unknown => match kind(dir, name) {
                Ok(k) => k,
                // Removed since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            },
            other => Kind::of(other, 0),
        };
        out.push((name.to_owned(), kind));
    }
    Ok(out)
}

/// Allocates the blocks of the first `len` bytes of `file` (growing it to
/// `len` if shorter), so that storing through a shared map of it never
/// meets a page without a block (which raises SIGBUS). A full disk is
/// `ENOSPC`. Where the filesystem cannot allocate ahead, the missing tail
/// is written with zeros instead.
pub(crate) fn allocate(file: &File, len: u64) -> io::Result<()> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => write_zeros(file, len),
        Err(e) => Err(e.into()),
    }
}

/// Writes zeros from the end of `file` up to `len` bytes.
fn write_zeros(file: &File, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut at = file.metadata()?.len();
    let zeros = [0u8; 4096];
    while at < len {
        let n = usize::try_from(len - at).map_or(zeros.len(), |n| n.min(zeros.len()));
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_data()
}
