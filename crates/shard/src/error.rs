//! The crate's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::codec::Key;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a [`Cache`](crate::Cache) operation, and
/// in the layers built on it: a sharded cache (`diskcache-fanout`) and the
/// facade's collections and recipes (`diskcache-rs`) return this same type,
/// so `?` works across all of them and one `match` tells every kind apart.
///
/// No dependency's type appears in it: SQLite's own error is reachable only
/// through [`std::error::Error::source`] of [`Error::Sqlite`].
///
/// ```
/// use diskcache_shard::{Cache, Error};
///
/// fn count(cache: &Cache) -> diskcache_shard::Result<i64> {
///     match cache.incr("visits", 1, None) {
///         Err(Error::NotFound) => Ok(0),
///         Err(e) if e.is_timeout() => Ok(-1),
///         other => other,
///     }
/// }
/// let cache = Cache::builder().open_temp()?;
/// assert_eq!(count(&cache)?, 0);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The database stayed locked by another connection for longer than the
    /// configured timeout; nothing was changed.
    Timeout {
        /// How long the operation waited before giving up.
        waited: Duration,
    },
    /// The operation needs an entry that is absent (or expired).
    NotFound,
    /// A stored value (or key) cannot be decoded as the requested type.
    TypeMismatch {
        /// What went wrong, in words.
        message: String,
    },
    /// A value or key cannot be encoded.
    Encode {
        /// What went wrong, in words.
        message: String,
    },
    /// A stored value or key was written by Python as a pickle, which this
    /// library never unpickles (unpickling runs code). A value pickled at
    /// the head of a queue makes every [`Cache::pull`](crate::Cache::pull)
    /// and [`Cache::peek`](crate::Cache::peek) there fail until it is gone:
    /// `key` names the entry, so the caller can
    /// [`delete`](crate::Cache::delete) it and call again.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Error, Key};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let cache = Cache::open(dir.path())?;
    /// cache.set("k", "v")?;
    /// // What python-diskcache stores for `cache.set("k", (1, 2))`.
    /// let db = rusqlite::Connection::open(dir.path().join("cache.db"))?;
    /// db.execute("UPDATE Cache SET mode = 4, value = x'80059508' WHERE key = 'k'", [])?;
    /// let Err(Error::Pickled { key: Some(key) }) = cache.get::<String>("k") else {
    ///     panic!("unpickled");
    /// };
    /// assert_eq!(key, Key::Text("k".into()));
    /// assert!(cache.delete(&key)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Pickled {
        /// The key of the entry, as stored (a key python pickled is a
        /// [`Key::Packed`] for which [`Key::is_pickled`] holds); `None`
        /// only where no entry is involved (decoding bytes alone).
        key: Option<Key>,
    },
    /// The database holds something this library refuses to act on: an
    /// unknown storage mode, a file name that would leave the cache
    /// directory, or a file whose size disagrees with its row.
    Corrupt {
        /// What is wrong, in words.
        message: String,
    },
    /// A setting or argument is out of range.
    InvalidInput {
        /// What is wrong, in words.
        message: String,
    },
    /// A setting stored in the cache's `Settings` table does not parse or
    /// is out of range, so the cache does not open; giving that setting to
    /// [`CacheBuilder`](crate::CacheBuilder) replaces the stored value.
    DamagedSetting {
        /// The setting's name in the `Settings` table (`size_limit`, …).
        key: String,
        /// What is wrong with the stored value, in words.
        message: String,
    },
    /// The cache directory lives on a network filesystem, where SQLite's
    /// locking is unreliable; opt in with
    /// [`CacheBuilder::allow_network_filesystem`](crate::CacheBuilder::allow_network_filesystem).
    NetworkFilesystem {
        /// The cache directory.
        path: PathBuf,
        /// The filesystem type as the kernel names it (`nfs4`, `cifs`, …).
        fs_type: String,
    },
    /// `incr`/`decr` would overflow an `i64`.
    Overflow,
    /// A filesystem operation failed.
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// SQLite reported an error other than a busy lock (which is
    /// [`Error::Timeout`]). The error SQLite's binding gave is the
    /// [`source`](std::error::Error::source) of this one, for display and
    /// logging; its type is not part of this crate's API.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Error};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let cache = Cache::open(dir.path())?;
    /// // Make the file something else than a database.
    /// std::fs::write(dir.path().join("cache.db"), vec![b'x'; 8192])?;
    /// drop(cache);
    /// let err = Cache::open(dir.path()).err();
    /// assert!(matches!(err.as_ref().map(Error::root), Some(Error::Sqlite { code: Some(26), .. })), "{err:?}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Sqlite {
        /// What SQLite reported, in words.
        message: String,
        /// SQLite's primary result code when it gave one (`SQLITE_CORRUPT`
        /// = 11, `SQLITE_FULL` = 13, `SQLITE_NOTADB` = 26, …).
        code: Option<i32>,
        /// The underlying error, opaque; see
        /// [`source`](std::error::Error::source).
        source: SqliteSource,
    },
    /// A [`FanoutCache`](https://docs.rs/diskcache-fanout) directory was
    /// created with another shard count or hash; opening it with these
    /// would send keys to the wrong shards.
    Layout {
        /// The cache directory.
        path: PathBuf,
        /// What disagrees, in words.
        message: String,
    },
    /// A sub-collection name is empty, absolute, or climbs with `..`.
    InvalidName {
        /// The name given.
        name: String,
    },
    /// Waiting for a lock, semaphore or throttle (the facade's recipes)
    /// took longer than the caller allowed; nothing was taken.
    WaitTimeout {
        /// The name of the lock, semaphore or throttle.
        name: String,
        /// How long the call waited.
        waited: Duration,
    },
    /// A lock was released by a thread or process that does not hold it
    /// (its hold expired, or it was never taken).
    NotHeld {
        /// The lock's name.
        name: String,
    },
    /// A bounded semaphore was released more often than acquired.
    ReleasedTooOften {
        /// The semaphore's name.
        name: String,
    },
    /// A transaction begun before `fork` was used in the child process
    /// (the child of a `fork` inside [`Cache::transact`](crate::Cache::transact)):
    /// the child cannot continue its parent's transaction, and nothing was
    /// written. Calls on that cache work again in the child once the
    /// transaction's closure has returned.
    ForkedTransaction,
    /// No database connection could be obtained from the pool.
    Connect {
        /// What the pool reported.
        message: String,
    },
    /// Opening the cache in `path` failed: every error of
    /// [`CacheBuilder::open`](crate::CacheBuilder::open) comes wrapped in
    /// this, naming the directory; `source` says what went wrong (a
    /// [`Timeout`](Error::Timeout) when the database stayed locked for
    /// longer than [`CacheBuilder::open_timeout`](crate::CacheBuilder::open_timeout),
    /// a [`DamagedSetting`](Error::DamagedSetting), …). [`Error::root`]
    /// reaches it.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Error};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let err = Cache::builder().reset_setting("no_such_setting").open(dir.path()).err();
    /// let Some(Error::Open { path, source }) = &err else {
    ///     panic!("not an open error: {err:?}");
    /// };
    /// assert_eq!(path, &dir.path().canonicalize()?);
    /// assert!(matches!(**source, Error::InvalidInput { .. }));
    /// assert!(matches!(err.as_ref().map(Error::root), Some(Error::InvalidInput { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Open {
        /// The cache directory.
        path: PathBuf,
        /// What went wrong.
        source: Box<Error>,
    },
}

impl Error {
    /// An [`Error::Io`] on `path`: for a caller's own filesystem work in
    /// a function that returns this crate's [`Result`].
    ///
    /// ```
    /// use diskcache_shard::{Cache, Error, Result};
    ///
    /// fn import(cache: &Cache, file: &std::path::Path) -> Result<()> {
    ///     let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    ///     cache.set("imported", &text)
    /// }
    /// let cache = Cache::builder().open_temp()?;
    /// let err = import(&cache, "no/such/file".as_ref()).err();
    /// assert!(matches!(err, Some(Error::Io { path, .. }) if path.ends_with("file")));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Error::Corrupt {
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
        }
    }

    pub(crate) fn mismatch(message: impl Into<String>) -> Self {
        Error::TypeMismatch {
            message: message.into(),
        }
    }

    /// A pickle met where the entry is not known yet.
    pub(crate) fn pickled() -> Self {
        Error::Pickled { key: None }
    }

    /// The error with `key` named: a [`Error::Pickled`] that names no key
    /// yet gets it, and a [`Error::Corrupt`] (a value file that is not what
    /// its row says) or [`Error::TypeMismatch`] says whose value it is.
    pub(crate) fn with_key(self, key: &Key) -> Self {
        match self {
            Error::Pickled { key: None } => Error::Pickled {
                key: Some(key.clone()),
            },
            Error::Corrupt { message } => Error::Corrupt {
                message: format!("{message} (the value of key {key:?})"),
            },
            Error::TypeMismatch { message } if !message.contains("(key ") => Error::TypeMismatch {
                message: format!("{message} (key {key:?})"),
            },
            other => other,
        }
    }

    /// [`with_key`](Self::with_key) for a read of the value of `key` as a
    /// `V`: a type mismatch names the type asked for too.
    pub(crate) fn for_value<V>(self, key: &Key) -> Self {
        match self {
            Error::TypeMismatch { message } if !message.contains("(key ") => Error::TypeMismatch {
                message: format!(
                    "{message} (key {key:?}, read as {})",
                    std::any::type_name::<V>()
                ),
            },
            other => other.with_key(key),
        }
    }

    pub(crate) fn open(path: impl Into<PathBuf>, source: Error) -> Self {
        match source {
            already @ Error::Open { .. } => already,
            source => Error::Open {
                path: path.into(),
                source: Box::new(source),
            },
        }
    }

    /// True for [`Error::Timeout`] (also inside [`Error::Open`]) and
    /// [`Error::WaitTimeout`]: a lock stayed busy past the time allowed,
    /// nothing was changed.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.root(),
            Error::Timeout { .. } | Error::WaitTimeout { .. }
        )
    }

    /// The error itself, or for [`Error::Open`] the error inside it: what
    /// to match on to tell the causes of a failed open apart.
    ///
    /// ```
    /// use diskcache_shard::{Cache, Error};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let err = Cache::builder().sqlite_page_size(1000).open(dir.path()).err();
    /// assert!(matches!(err.as_ref().map(Error::root), Some(Error::InvalidInput { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn root(&self) -> &Error {
        match self {
            Error::Open { source, .. } => source.root(),
            other => other,
        }
    }

    /// [`root`](Error::root), by value.
    pub fn into_root(self) -> Error {
        match self {
            Error::Open { source, .. } => source.into_root(),
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout { waited } => {
                write!(f, "cache database stayed locked for {waited:?}")
            }
            Error::NotFound => f.write_str("no such entry in the cache"),
            Error::TypeMismatch { message } => {
                write!(f, "stored value has another type: {message}")
            }
            Error::Encode { message } => write!(f, "cannot encode: {message}"),
            Error::Pickled { key: None } => {
                f.write_str("stored by Python as a pickle, which is never unpickled here")
            }
            Error::Pickled { key: Some(key) } => {
                if key.is_pickled() {
                    f.write_str("the key ")?;
                    show_key(f, key)?;
                    f.write_str(" was stored by Python as a pickle")?;
                } else {
                    f.write_str("the value of key ")?;
                    show_key(f, key)?;
                    f.write_str(" was stored by Python as a pickle")?;
                }
                f.write_str(", which is never unpickled here; delete the key to go on")
            }
            Error::Corrupt { message } => write!(f, "corrupt cache: {message}"),
            Error::InvalidInput { message } => write!(f, "invalid input: {message}"),
            Error::DamagedSetting { key, message } => write!(
                f,
                "the stored setting {key} is damaged ({message}); giving {key} to CacheBuilder replaces it"
            ),
            Error::NetworkFilesystem { path, fs_type } => write!(
                f,
                "{} is on a network filesystem ({fs_type}) where SQLite locking is unreliable; \
                 opt in with allow_network_filesystem(true)",
                path.display()
            ),
            Error::Overflow => f.write_str("integer overflow in incr/decr"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Sqlite { message, .. } => write!(f, "sqlite: {message}"),
            Error::Layout { path, message } => write!(f, "{}: {message}", path.display()),
            Error::InvalidName { name } => write!(f, "invalid sub-collection name {name:?}"),
            Error::WaitTimeout { name, waited } => {
                write!(f, "waited {waited:?} for {name:?} in vain")
            }
            Error::NotHeld { name } => {
                write!(
                    f,
                    "released the lock {name:?}, which this holder does not hold"
                )
            }
            Error::ReleasedTooOften { name } => {
                write!(
                    f,
                    "the semaphore {name:?} was released more often than acquired"
                )
            }
            Error::ForkedTransaction => f.write_str(
                "a transaction begun in the parent process before fork cannot be used in the child",
            ),
            Error::Connect { message } => {
                write!(f, "cannot connect to the cache database: {message}")
            }
            Error::Open { path, source } => {
                write!(f, "cannot open the cache in {}: {source}", path.display())
            }
        }
    }
}

/// A stored key, for a message: numbers and text as they are, bytes
/// escaped, a pickled or packed key by its first bytes in hex.
fn show_key(f: &mut fmt::Formatter<'_>, key: &Key) -> fmt::Result {
    match key {
        Key::Int(i) => write!(f, "{i}"),
        Key::Real(r) => write!(f, "{r:?}"),
        Key::Text(t) => write!(f, "{t:?}"),
        Key::Bytes(b) => write!(f, "b\"{}\"", b.escape_ascii()),
        Key::Packed(b) => {
            f.write_str("<")?;
            for byte in b.iter().take(16) {
                write!(f, "{byte:02x}")?;
            }
            if b.len() > 16 {
                f.write_str("…")?;
            }
            write!(f, ", {} bytes>", b.len())
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Sqlite { source, .. } => Some(source),
            Error::Open { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

// For `?` inside the crate; hidden, since SQLite's binding is no part of
// the API.
#[doc(hidden)]
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Timeout {
                waited: crate::busy::waited(),
            },
            _ => Error::Sqlite {
                message: e.to_string(),
                code: e.sqlite_error().map(|f| f.extended_code & 0xff),
                source: SqliteSource(Box::new(e)),
            },
        }
    }
}

/// The error SQLite's binding reported, behind [`Error::Sqlite`]: opaque,
/// so that the binding's version is not part of this crate's API. It
/// displays as SQLite's message and is the
/// [`source`](std::error::Error::source) of its [`Error::Sqlite`].
pub struct SqliteSource(Box<rusqlite::Error>);

impl fmt::Debug for SqliteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SqliteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SqliteSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
