//! What a directory on the command line holds, and opening it.
//!
//! A directory holding `cache.db` is one cache (a `Cache`, `Deque` or
//! `Index`). A directory holding shard folders `000/`, `001/`, … is a
//! fanout cache, ours (with `fanout.cfg`) or python-diskcache's; each shard
//! is opened as the cache it is, so keys need no hash to be found. Nothing
//! is created: a directory that is not a cache is an error.

use std::fs;
use std::path::{Path, PathBuf};

use diskcache::{Cache, Error, Settings};

/// How the directory's caches are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One cache: `cache.db` in the directory itself.
    Single,
    /// Shard folders; `recorded` when `fanout.cfg` records their count
    /// (ours), not when python-diskcache made them.
    Fanout { recorded: bool },
}

/// The caches of one directory, opened.
pub(crate) struct Target {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// How its caches are laid out.
    pub(crate) layout: Layout,
    /// Each shard's folder name (`"."` for a single cache) and its cache.
    pub(crate) shards: Vec<(String, Cache)>,
    /// Named collections below the directory (`deque/jobs`, …).
    pub(crate) named: Vec<String>,
    /// Damaged stored settings replaced by their defaults while opening,
    /// as `(shard, what was wrong)`.
    pub(crate) repaired: Vec<(String, String)>,
}

impl Target {
    /// Opens every cache of `dir`, with the settings stored in each. With
    /// `repair`, a damaged stored setting is replaced by its default (and
    /// listed in `repaired`); without, it is an error that says how.
    pub(crate) fn open(dir: &Path, repair: bool) -> Result<Target, String> {
        if !dir.is_dir() {
            return Err(format!("{}: not a directory", dir.display()));
        }
        let (layout, shard_dirs) = if is_cache(dir) {
            (Layout::Single, vec![(".".to_owned(), dir.to_path_buf())])
        } else {
            let recorded = dir.join("fanout.cfg").is_file();
            (Layout::Fanout { recorded }, shard_folders(dir)?)
        };
        if shard_dirs.is_empty() {
            return Err(format!(
                "{}: not a cache directory (no cache.db, no shard folders 000/, 001/, …)",
                dir.display()
            ));
        }
        let mut shards = Vec::with_capacity(shard_dirs.len());
        let mut repaired = Vec::new();
        let count = shard_dirs.len() as u64;
        for (name, path) in shard_dirs {
            let mut builder = Cache::builder();
            // Each try replaces a setting not replaced before, so a few
            // more tries than there are settings always suffice.
            let mut tries = 0;
            let cache = loop {
                tries += 1;
                // The cause; the path is named below.
                let failed = match builder.clone().open(&path) {
                    Ok(cache) => break cache,
                    Err(e) => e.into_root(),
                };
                match failed {
                    Error::DamagedSetting { key, message } if repair && tries <= 16 => {
                        let what = format!("stored setting {key} was damaged ({message})");
                        // A fanout cache splits its size limit over its shards.
                        if key == "size_limit" && count > 1 {
                            let share = Settings::default().size_limit / count;
                            repaired.push((
                                name.clone(),
                                format!("{what}: replaced by the default's share, {share} bytes"),
                            ));
                            builder = builder.size_limit(share);
                        } else {
                            repaired
                                .push((name.clone(), format!("{what}: replaced by its default")));
                            builder = builder.reset_setting(&key);
                        }
                    }
                    e @ Error::DamagedSetting { .. } => {
                        return Err(format!(
                            "{}: {e}; `diskcache check DIR --fix` replaces it by its default",
                            path.display()
                        ));
                    }
                    e => return Err(format!("{}: {e}", path.display())),
                }
            };
            shards.push((name, cache));
        }
        Ok(Target {
            dir: dir.to_path_buf(),
            layout,
            shards,
            named: named(dir),
            repaired,
        })
    }
}

fn is_cache(dir: &Path) -> bool {
    dir.join("cache.db").is_file()
}

fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let read = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found: Vec<(String, PathBuf)> = read
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            Some((name, entry.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// `000/`, `001/`, … holding a `cache.db` each, in order.
fn shard_folders(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|(name, path)| {
            name.len() == 3 && name.bytes().all(|b| b.is_ascii_digit()) && is_cache(path)
        })
        .collect())
}

/// The named collections below `dir`: `cache/NAME`, `deque/NAME`,
/// `index/NAME` (a named cache may itself be sharded).
fn named(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for kind in ["cache", "deque", "index"] {
        let Ok(children) = entries(&dir.join(kind)) else {
            continue;
        };
        for (name, path) in children {
            let sharded = || shard_folders(&path).is_ok_and(|s| !s.is_empty());
            if is_cache(&path) || sharded() {
                found.push(format!("{kind}/{name}"));
            }
        }
    }
    found
}
