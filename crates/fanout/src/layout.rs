//! Where shards live, how a key picks one, and the record of both.
//!
//! Shards are the folders `000/`, `001/`, … as python-diskcache's
//! FanoutCache names them. The shard count and the hash are fixed when the
//! directory is created and recorded in `fanout.cfg`; reopening with others
//! is an error, never a silent reshuffle of keys.
//!
//! python-diskcache's FanoutCache records nothing: shard folders without a
//! `fanout.cfg` are its directory, and are opened with the count found on
//! disk and python's hash ([`ShardHash::Adler32`]), then recorded. Asking
//! for another count or hash there is an error before anything is written.

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use diskcache_shard::Key;

use crate::error::{self, Error, Result};

/// The file recording the shard count and hash.
const MARKER: &str = "fanout.cfg";

/// How a key picks its shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ShardHash {
    /// xxh3-64 of the stored key (the default for a new directory): fast
    /// and well spread.
    #[default]
    Xxh3,
    /// python-diskcache's hash (adler32 of the stored key; integers modulo
    /// 2³²−1), for directories shared with a python-diskcache FanoutCache;
    /// the default for shard folders python made (no `fanout.cfg`).
    Adler32,
}

impl ShardHash {
    fn name(self) -> &'static str {
        match self {
            ShardHash::Xxh3 => "xxh3",
            ShardHash::Adler32 => "adler32",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "xxh3" => Some(ShardHash::Xxh3),
            "adler32" => Some(ShardHash::Adler32),
            _ => None,
        }
    }

    /// The shard, out of `count`, that `key` belongs to.
    pub fn shard_of(self, key: &Key, count: usize) -> usize {
        let count = count.max(1) as u64;
        let hash = match self {
            ShardHash::Xxh3 => match key {
                Key::Int(i) => xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes()),
                Key::Real(r) => xxhash_rust::xxh3::xxh3_64(&r.to_le_bytes()),
                Key::Text(t) => xxhash_rust::xxh3::xxh3_64(t.as_bytes()),
                Key::Bytes(b) | Key::Packed(b) => xxhash_rust::xxh3::xxh3_64(b),
                _ => 0,
            },
            ShardHash::Adler32 => {
                const MASK: i128 = 0xFFFF_FFFF;
                match key {
                    Key::Int(i) => i128::from(*i).rem_euclid(MASK) as u64,
                    Key::Real(r) => u64::from(adler32(&r.to_be_bytes())),
                    Key::Text(t) => u64::from(adler32(t.as_bytes())),
                    Key::Bytes(b) | Key::Packed(b) => u64::from(adler32(b)),
                    _ => 0,
                }
            }
        };
        usize::try_from(hash % count).unwrap_or(0)
    }
}

/// zlib's adler32 checksum.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// The folder of shard `index`.
pub(crate) fn shard_dir(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("{index:03}"))
}

/// The shard folders already present (`000`, `001`, … counted from zero).
fn existing_shards(dir: &Path) -> usize {
    (0..1000)
        .take_while(|&i| shard_dir(dir, i).join("cache.db").exists())
        .count()
}

/// The shard count and hash recorded for `dir`, if any.
fn read_marker(dir: &Path) -> Result<Option<(usize, ShardHash)>> {
    let path = dir.join(MARKER);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(error::io(path, e)),
    };
    let mut shards = None;
    let mut hash = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "shards" => shards = v.trim().parse().ok(),
                "hash" => hash = ShardHash::parse(v.trim()),
                _ => {}
            }
        }
    }
    match (shards, hash) {
        (Some(s), Some(h)) if SHARD_COUNTS.contains(&s) => Ok(Some((s, h))),
        _ => Err(Error::Layout {
            path: dir.to_path_buf(),
            message: format!("{MARKER} is unreadable: {text:?}"),
        }),
    }
}

/// The shard counts a directory can have: its folders are `000` to `998`.
const SHARD_COUNTS: std::ops::RangeInclusive<usize> = 1..=999;

/// Settles the layout of `dir`: the recorded one when there is a record
/// (an explicit request that differs is an error), else the one requested,
/// recorded atomically so that concurrent openers agree.
pub(crate) fn settle(
    dir: &Path,
    shards: Option<usize>,
    hash: Option<ShardHash>,
) -> Result<(usize, ShardHash, bool)> {
    if let Some(found) = read_marker(dir)? {
        return check(dir, found, shards, hash).map(|(s, h)| (s, h, false));
    }
    let present = existing_shards(dir);
    // Shard folders with no record of ours are python-diskcache's: its
    // FanoutCache writes none, and ours records before it makes a shard.
    // Only python's hash finds python's keys there.
    let default_hash = if present > 0 {
        ShardHash::Adler32
    } else {
        ShardHash::default()
    };
    let wanted = (
        shards.unwrap_or(if present > 0 { present } else { 8 }),
        hash.unwrap_or(default_hash),
    );
    if !SHARD_COUNTS.contains(&wanted.0) {
        return Err(Error::Layout {
            path: dir.to_path_buf(),
            message: format!("shard count must be 1 to 999, not {}", wanted.0),
        });
    }
    if present > 0 && present != wanted.0 {
        return Err(Error::Layout {
            path: dir.to_path_buf(),
            message: format!(
                "the directory holds python-diskcache's {present} shards (no {MARKER}), not {}",
                wanted.0
            ),
        });
    }
    if present > 0 && wanted.1 != ShardHash::Adler32 {
        return Err(Error::Layout {
            path: dir.to_path_buf(),
            message: format!(
                "the directory holds python-diskcache's {present} shards (no {MARKER}), whose keys \
                 only python's hash (adler32) finds, not {}",
                wanted.1.name()
            ),
        });
    }
    // Write the record under a private name, then link it into place: the
    // link fails if another opener recorded first, and we adopt its record.
    let tmp = dir.join(format!("{MARKER}.{}", std::process::id()));
    let mut file = fs::File::create(&tmp).map_err(|e| error::io(&tmp, e))?;
    writeln!(file, "shards = {}\nhash = {}", wanted.0, wanted.1.name())
        .and_then(|()| file.sync_all())
        .map_err(|e| error::io(&tmp, e))?;
    let linked = fs::hard_link(&tmp, dir.join(MARKER));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok((wanted.0, wanted.1, present == 0)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let found = read_marker(dir)?.ok_or_else(|| error::io(dir.join(MARKER), e))?;
            check(dir, found, shards, hash).map(|(s, h)| (s, h, false))
        }
        Err(e) => Err(error::io(dir.join(MARKER), e)),
    }
}

fn check(
    dir: &Path,
    found: (usize, ShardHash),
    shards: Option<usize>,
    hash: Option<ShardHash>,
) -> Result<(usize, ShardHash)> {
    if shards.is_some_and(|s| s != found.0) || hash.is_some_and(|h| h != found.1) {
        return Err(Error::Layout {
            path: dir.to_path_buf(),
            message: format!(
                "created with {} shards and the {} hash; asked for {} shards and the {} hash",
                found.0,
                found.1.name(),
                shards.unwrap_or(found.0),
                hash.unwrap_or(found.1).name()
            ),
        });
    }
    Ok(found)
}

/// The folder of the sub-collection `name` of `kind` (`cache`, `deque`,
/// `index`), refusing names that would leave the directory.
pub fn sub_dir(dir: &Path, kind: &str, name: &str) -> Result<PathBuf> {
    let invalid = || Error::InvalidName {
        name: name.to_string(),
    };
    let rel = Path::new(name);
    if name.is_empty() || name.contains('\0') {
        return Err(invalid());
    }
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(invalid());
    }
    Ok(dir.join(kind).join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_matches_zlib() {
        // zlib.adler32(b"Wikipedia") == 0x11E60398
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
        let big = vec![0xffu8; 100_000];
        // zlib.adler32(b"\xff" * 100000) == 345649196 (checked with Python).
        assert_eq!(adler32(&big), 345_649_196);
    }

    #[test]
    fn python_hash_of_negative_ints_is_non_negative() {
        let n = ShardHash::Adler32.shard_of(&Key::Int(-5), 8);
        assert_eq!(n, ((0xFFFF_FFFFu64 - 5) % 8) as usize);
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        let dir = Path::new("/c");
        for bad in ["", "../x", "/abs", "a/../b", "."] {
            assert!(sub_dir(dir, "cache", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            sub_dir(dir, "deque", "a/b").ok(),
            Some(PathBuf::from("/c/deque/a/b"))
        );
    }
}
