//! Rows of the `Cache` table: storage modes, the SQL that reads and writes
//! a row, and turning values into row columns and back.

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Row, params};
use serde::de::DeserializeOwned;

use crate::cache::{Cache, SetOptions};
use crate::codec::{Codec, Key, decode_owned_bytes, decode_raw, unpack};
use crate::error::{Error, Result};
use crate::files;
use crate::settings::Synchronous;
use crate::txn::TxnState;

/// `mode` column: the value is in the `value` column as SQLite stores it.
pub(crate) const MODE_RAW: i64 = 1;
/// `mode` column: bytes in a file.
pub(crate) const MODE_BINARY: i64 = 2;
/// `mode` column: UTF-8 text in a file.
pub(crate) const MODE_TEXT: i64 = 3;
/// `mode` column: a Python pickle (never decoded here).
pub(crate) const MODE_PICKLE: i64 = 4;
/// `mode` column: MessagePack, inline or in a file (this library only).
pub(crate) const MODE_PACKED: i64 = 5;

pub(crate) const GET: &str = "SELECT rowid, mode, filename, value, size, expire_time, tag FROM Cache \
                   WHERE key = ?1 AND raw = ?2 AND (expire_time IS NULL OR expire_time > ?3)";
pub(crate) const FIND: &str =
    "SELECT rowid, filename, expire_time FROM Cache WHERE key = ?1 AND raw = ?2";
pub(crate) const UPDATE: &str = "UPDATE Cache SET store_time = ?1, expire_time = ?2, access_time = ?1, \
                      access_count = 0, tag = ?3, size = ?4, mode = ?5, filename = ?6, value = ?7 \
                      WHERE rowid = ?8";
/// A set in one statement, when the key is new or its current value has no
/// file (the common case); it changes nothing when the current value has a
/// file, which the caller must then find and remove. (No `RETURNING rowid`:
/// it costs about a microsecond, and the rowid is needed only by a cull by
/// policy, which looks it up.)
pub(crate) const UPSERT: &str = "INSERT INTO Cache (key, raw, store_time, expire_time, access_time, \
                      access_count, tag, size, mode, filename, value) \
                      VALUES (?1, ?2, ?3, ?4, ?3, 0, ?5, ?6, ?7, ?8, ?9) \
                      ON CONFLICT (key, raw) DO UPDATE SET store_time = ?3, expire_time = ?4, \
                      access_time = ?3, access_count = 0, tag = ?5, size = ?6, mode = ?7, \
                      filename = ?8, value = ?9 WHERE Cache.filename IS NULL";
pub(crate) const DELETE_ROW: &str = "DELETE FROM Cache WHERE rowid = ?1";

/// A value ready to be written into a row.
pub(crate) struct Stored {
    pub(crate) size: i64,
    pub(crate) mode: i64,
    pub(crate) filename: Option<String>,
    pub(crate) value: Value,
}

/// The existing row of a key.
pub(crate) struct Found {
    pub(crate) rowid: i64,
    pub(crate) filename: Option<String>,
    pub(crate) expire: Option<f64>,
}

impl Found {
    pub(crate) fn is_live(&self, now: f64) -> bool {
        self.expire.is_none_or(|t| t > now)
    }
}

/// The row a write just wrote, which its own cull must keep.
pub(crate) enum Written<'a> {
    /// Known by rowid.
    Row(i64),
    /// Known by key (looked up only if a cull by policy needs it).
    Key(&'a Key),
}

/// What a write puts into a row.
pub(crate) struct Put<'a> {
    pub(crate) now: f64,
    pub(crate) opts: &'a SetOptions,
    pub(crate) stored: &'a Stored,
}

/// A value read from a row: decoded already, or still in its file.
pub(crate) enum Fetched<V> {
    Ready(V),
    /// In a file of `size` bytes (the row's `size` column).
    File {
        mode: i64,
        name: String,
        size: i64,
    },
}

/// Reads a `filename` column: text names a file; any other type (a
/// hostile or damaged row) names none this library could have written, so
/// the row is treated as having no file rather than refusing every call
/// that meets it.
pub(crate) fn file_name(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<String>> {
    Ok(match row.get_ref(at)? {
        ValueRef::Text(name) => Some(String::from_utf8_lossy(name).into_owned()),
        _ => None,
    })
}

/// Reads a time column (`expire_time`, …): a number, or none (any other
/// type, in a hostile or damaged row, counts as no time).
pub(crate) fn time(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<f64>> {
    Ok(match row.get_ref(at)? {
        ValueRef::Real(t) => Some(t),
        // Seconds since the epoch: exact as a float far beyond any date.
        #[allow(clippy::cast_precision_loss)]
        ValueRef::Integer(t) => Some(t as f64),
        _ => None,
    })
}

/// Decodes the value columns `(mode, filename, value, size)` starting at `at`.
pub(crate) fn fetch<V: DeserializeOwned + 'static>(
    codec: Codec,
    row: &Row<'_>,
    at: usize,
) -> Result<Fetched<V>> {
    let mode: i64 = row.get(at)?;
    let filename = file_name(row, at + 1)?;
    if let Some(name) = filename {
        return match mode {
            MODE_PICKLE => Err(Error::pickled()),
            MODE_BINARY | MODE_TEXT | MODE_PACKED => Ok(Fetched::File {
                mode,
                name,
                size: row.get(at + 3)?,
            }),
            other => Err(Error::corrupt(format!("unknown value mode {other}"))),
        };
    }
    decode_inline(codec, mode, row.get_ref(at + 2)?).map(Fetched::Ready)
}

/// Decodes a value kept in the `value` column under `mode`.
pub(crate) fn decode_inline<V: DeserializeOwned + 'static>(
    codec: Codec,
    mode: i64,
    value: ValueRef<'_>,
) -> Result<V> {
    match (mode, value) {
        (MODE_RAW, ValueRef::Blob(b)) if codec.bytes_are_encoded() => crate::json::decode(b),
        _ => decode_inline_native(mode, value),
    }
}

/// Decodes a value kept in the `value` column, bytes as bytes.
fn decode_inline_native<V: DeserializeOwned + 'static>(
    mode: i64,
    value: ValueRef<'_>,
) -> Result<V> {
    match mode {
        MODE_RAW => decode_raw(value),
        MODE_PACKED => unpack(value.as_blob().map_err(rusqlite::Error::from)?),
        MODE_PICKLE => Err(Error::pickled()),
        other => Err(Error::corrupt(format!(
            "unknown value mode {other} without a file"
        ))),
    }
}

/// Runs `f` on the live (unexpired) row of `key`, if there is one. The
/// row's columns are those of `GET`.
pub(crate) fn with_live_row<T>(
    conn: &Connection,
    key: &Key,
    now: f64,
    f: impl FnOnce(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let (k, raw) = key.to_sql();
    let mut stmt = conn.prepare_cached(GET)?;
    let mut rows = stmt.query(params![k, raw, now])?;
    match rows.next()? {
        Some(row) => f(row).map(Some),
        None => Ok(None),
    }
}

/// Decodes the bytes of a value file.
pub(crate) fn decode_file<V: DeserializeOwned + 'static>(
    codec: Codec,
    mode: i64,
    bytes: Vec<u8>,
) -> Result<V> {
    match mode {
        MODE_BINARY if codec.bytes_are_encoded() => crate::json::decode(&bytes),
        MODE_BINARY => decode_owned_bytes(bytes),
        MODE_TEXT => decode_raw(ValueRef::Text(&bytes)),
        MODE_PACKED => unpack(&bytes),
        MODE_PICKLE => Err(Error::pickled()),
        other => Err(Error::corrupt(format!("unknown value mode {other}"))),
    }
}

impl Cache {
    /// Encodes a value for a row, writing its file first when it is large.
    pub(crate) fn store(&self, value: Key) -> Result<Stored> {
        let min = self.inner.tunables.min_file();
        let durable = self.inner.settings.sqlite_synchronous == Synchronous::Full;
        let (mode, bytes) = match value {
            Key::Int(i) => return Ok(raw_stored(Value::Integer(i))),
            Key::Real(r) => return Ok(raw_stored(Value::Real(r))),
            Key::Text(t) if (t.len() as u64) < min => return Ok(raw_stored(Value::Text(t))),
            Key::Bytes(b) if (b.len() as u64) < min => return Ok(raw_stored(Value::Blob(b))),
            Key::Packed(b) if (b.len() as u64) < min => {
                return Ok(Stored {
                    size: 0,
                    mode: MODE_PACKED,
                    filename: None,
                    value: Value::Blob(b),
                });
            }
            Key::Text(t) => (MODE_TEXT, t.into_bytes()),
            Key::Bytes(b) => (MODE_BINARY, b),
            Key::Packed(b) => (MODE_PACKED, b),
        };
        let (name, size) = files::write_new(&self.inner.dir, &mut bytes.as_slice(), durable)?;
        Ok(file_stored(mode, name, size))
    }

    /// Removes a value file written for a write that did not happen.
    pub(crate) fn discard(&self, stored: &Stored) {
        if let Some(name) = &stored.filename {
            files::remove(&self.inner.dir, name);
        }
    }

    /// Writes the row for `key` in one statement unless its current value
    /// has a file; returns whether it was written.
    pub(crate) fn upsert(
        &self,
        conn: &Connection,
        st: &mut TxnState,
        key: &Key,
        put: &Put<'_>,
    ) -> Result<bool> {
        let Put { now, opts, stored } = *put;
        let (key, raw) = key.to_sql();
        let changed = conn.prepare_cached(UPSERT)?.execute(params![
            key,
            raw,
            now,
            opts.expire_time(now),
            opts.tag_value(),
            stored.size,
            stored.mode,
            stored.filename,
            stored.value
        ])?;
        if changed == 0 {
            return Ok(false);
        }
        if let Some(name) = &stored.filename {
            st.created.push(name.clone());
        }
        Ok(true)
    }

    /// Writes the row for `key`: updates the existing one (its old file
    /// becomes obsolete) or inserts a new one. Returns the rowid.
    pub(crate) fn put_row(
        &self,
        conn: &Connection,
        st: &mut TxnState,
        key: &Key,
        existing: Option<Found>,
        put: &Put<'_>,
    ) -> Result<i64> {
        let Put { now, opts, stored } = *put;
        let rowid = match existing {
            Some(Found {
                rowid,
                filename: old_file,
                ..
            }) => {
                conn.prepare_cached(UPDATE)?.execute(params![
                    now,
                    opts.expire_time(now),
                    opts.tag_value(),
                    stored.size,
                    stored.mode,
                    stored.filename,
                    stored.value,
                    rowid
                ])?;
                if let Some(name) = &stored.filename {
                    st.created.push(name.clone());
                }
                st.obsolete.extend(old_file);
                rowid
            }
            // The key is absent, so the one-statement set inserts it.
            None => {
                if !self.upsert(conn, st, key, put)? {
                    return Err(Error::corrupt("a row appeared inside a write transaction"));
                }
                conn.last_insert_rowid()
            }
        };
        self.cull_on_write(conn, st, put, key, Written::Row(rowid))?;
        Ok(rowid)
    }

    /// The row for `key`, expired or not.
    pub(crate) fn find(conn: &Connection, key: &Key) -> Result<Option<Found>> {
        let (k, raw) = key.to_sql();
        let mut stmt = conn.prepare_cached(FIND)?;
        let mut rows = stmt.query(params![k, raw])?;
        match rows.next()? {
            Some(row) => Ok(Some(Found {
                rowid: row.get(0)?,
                filename: file_name(row, 1)?,
                expire: time(row, 2)?,
            })),
            None => Ok(None),
        }
    }
}

pub(crate) fn raw_stored(value: Value) -> Stored {
    Stored {
        size: 0,
        mode: MODE_RAW,
        filename: None,
        value,
    }
}

pub(crate) fn file_stored(mode: i64, name: String, size: u64) -> Stored {
    Stored {
        size: i64::try_from(size).unwrap_or(i64::MAX),
        mode,
        filename: Some(name),
        value: Value::Null,
    }
}
