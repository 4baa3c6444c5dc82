//! One disk cache in one directory: a SQLite index (`cache.db`) plus files
//! for large values, shared safely by threads and processes, on
//! python-diskcache 5.x's on-disk format.
//!
//! ```
//! use std::time::Duration;
//! use diskcache_shard::{Cache, SetOptions, Side};
//!
//! let dir = tempfile::tempdir()?;
//! let cache = Cache::builder().size_limit(256 << 20).open(dir.path())?;
//!
//! // Bytes, text, integers and floats are stored natively…
//! cache.set("greeting", "hello")?;
//! cache.set(&7, &b"seven".to_vec())?;
//! // …and any other serde type as MessagePack.
//! cache.set(&("user", 42), &vec!["ada", "lovelace"])?;
//! assert_eq!(cache.get::<Vec<String>>(&("user", 42))?.map(|v| v.len()), Some(2));
//!
//! // Expiry and tags.
//! cache.set_with("session", &1, &SetOptions::new().expire(Duration::from_secs(30)).tag("web"))?;
//! assert_eq!(cache.evict("web")?, 1);
//!
//! // Atomic counters and queues.
//! assert_eq!(cache.incr("visits", 1, Some(0))?, 1);
//! cache.push(&"job-1", Some("jobs"), Side::Back)?;
//! assert!(cache.pull::<String>(Some("jobs"), Side::Front)?.is_some());
//!
//! // Large values go to files and can be read zero-copy.
//! cache.set("blob", &vec![0u8; 1 << 20])?;
//! assert!(cache.read("blob")?.expect("stored").is_mapped());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Durability
//!
//! Every write is one SQLite transaction (`BEGIN IMMEDIATE`) in WAL mode.
//! With the default [`Synchronous::Normal`] a committed write survives a
//! crash of the process; with [`Synchronous::Full`] it also survives a power
//! loss (every commit and every value file is fsynced). A value file is
//! always written completely before its row commits, so a crash can leave an
//! orphan file (swept by [`Cache::check`] with `fix`) but never a row
//! pointing at a partial file.
//!
//! # Size limit
//!
//! The size limit is soft: each write culls at most `cull_limit` entries, so
//! the volume can exceed the limit briefly under bursts. A write never
//! evicts the entry it just stored unless that entry alone reaches the
//! limit. The size and cull limits can change while the cache is open
//! ([`Cache::set_size_limit`], [`Cache::set_cull_limit`]); other handles and
//! processes pick a change up on their first call a second later, or at
//! once with [`Cache::reload_settings`]. A limit given to the builder is
//! stored too, so the last process to open with one sets it for all.
//!
//! # Processes
//!
//! Any number of processes may open the same directory; opening a new
//! directory from many processes at once is safe. A handle used in a child
//! after `fork` closes the connections it inherited (without touching the
//! parent's files) and opens its own, whether the parent was idle, busy
//! writing on another thread, or exits right after the fork; a fork inside
//! [`Cache::transact`] leaves the child unable to use that transaction
//! ([`Error::ForkedTransaction`]), never with a write that seems stored and
//! is not.
//! Directories on network filesystems are refused unless opted in, since
//! SQLite's locking is unreliable there.
//!
//! # Read memo
//!
//! Each handle remembers the inline values it has read (up to
//! [`CacheBuilder::memo_bytes`], default 4 MiB) and answers a repeated
//! read from memory, several times faster than SQLite, for as long as
//! the value has not changed. Before each use it compares the header
//! of SQLite's WAL index (`cache.db-shm`), which every commit of every
//! process rewrites, with the header it was filled at, so it is never
//! staler than a read through SQLite. The handle's own writes drop the
//! entries they change. So do other handles' and processes' writes: each
//! write records the keys and rows it changed in a small shared file
//! beside the database (`cache.db-memo`), and a memo catches up from it;
//! a write it cannot account for (python-diskcache's, or a handle's with
//! the memo off) makes it start over. When few remembered values are read
//! again before they are dropped (reads spread over more entries than the
//! memo holds, or unaccounted writes between most reads), reads stop
//! filling it for a while, so that a memo that cannot help costs next to
//! nothing.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod batch;
mod builder;
mod busy;
mod cache;
mod check;
mod checkpoint;
mod codec;
mod commit;
mod conn;
mod counters;
mod error;
mod feed;
mod files;
mod fork;
mod headroom;
mod iter;
mod json;
mod maint;
mod memo;
mod netfs;
mod ops;
mod queue;
mod recover;
mod retrying;
mod row;
mod schema;
mod seq;
mod settings;
mod tune;
mod txn;
mod watch;

pub use builder::CacheBuilder;
pub use cache::{Cache, Entry, SetOptions};
pub use check::{CheckReport, DatabaseRepair, Problem};
pub use codec::{Codec, Key};
pub use counters::Counters;
pub use error::{Error, Result, SqliteSource};
pub use files::{MappedFile, ValueBytes};
pub use iter::Keys;
pub use maint::Stats;
pub use queue::Side;
pub use retrying::Retrying;
pub use seq::QueueIter;
pub use settings::{EvictionPolicy, JournalMode, Settings, Synchronous};
