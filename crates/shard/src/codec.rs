//! How keys and values become SQLite values, and back.
//!
//! A value whose serde shape is a byte string, a string, an integer that fits
//! an `i64` or a float is stored natively ("raw"), exactly as
//! python-diskcache stores `bytes`, `str`, `int` and `float`; any other shape
//! is encoded as MessagePack. A sequence made only of `u8` (a `Vec<u8>`,
//! `[u8; N]` or `&[u8]`) counts as a byte string.

use std::any::{Any, TypeId};
use std::fmt;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::{self, Impossible, Serialize};

use crate::error::{Error, Result};

/// Serializer methods that refuse their shape.
macro_rules! compound {
    ($($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ret, NotRaw> { Err(NotRaw::Compound) })*
    };
}

/// A key as it is stored: one of the four native SQLite types, or a
/// MessagePack encoding of any other serde type.
///
/// Iteration and the queue methods hand out keys in this form; call
/// [`Key::decode`] to turn one into a typed value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Key {
    /// An integer key (Python `int`).
    Int(i64),
    /// A float key (Python `float`).
    Real(f64),
    /// A text key (Python `str`).
    Text(String),
    /// A byte-string key (Python `bytes`).
    Bytes(Vec<u8>),
    /// Any other serde type, as MessagePack (Python would pickle these; the
    /// two do not cross languages). A key python-diskcache pickled (a tuple,
    /// say) is read as one too: [`Key::is_pickled`] tells, and decoding it
    /// is [`Error::Pickled`]; it still finds its entry (`get`, `delete`).
    Packed(Vec<u8>),
}

impl Key {
    /// Encodes any serializable value the way a key is stored.
    ///
    /// ```
    /// use diskcache_shard::Key;
    /// assert_eq!(Key::from_value(&"a")?, Key::Text("a".into()));
    /// assert_eq!(Key::from_value(&7u8)?, Key::Int(7));
    /// assert_eq!(Key::from_value(&vec![1u8, 2])?, Key::Bytes(vec![1, 2]));
    /// assert!(matches!(Key::from_value(&("a", 1))?, Key::Packed(_)));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Result<Key> {
        encode(value)
    }

    /// Decodes the key into a typed value.
    ///
    /// ```
    /// use diskcache_shard::Key;
    /// let key = Key::from_value(&("user", 42))?;
    /// assert_eq!(key.decode::<(String, u32)>()?, ("user".to_string(), 42));
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    ///
    /// A key python-diskcache pickled is [`Error::Pickled`] naming itself,
    /// whatever `T` is.
    pub fn decode<T: DeserializeOwned + 'static>(&self) -> Result<T> {
        match self {
            Key::Packed(bytes) => unpack(bytes).map_err(|e| e.with_key(self)),
            other => decode_raw(other.as_value_ref()),
        }
    }

    /// Whether this is a key python-diskcache pickled: stored bytes that
    /// begin with pickle's protocol mark (0x80, then protocol 2 to 5).
    /// Iteration and [`Cache::peekitem`](crate::Cache::peekitem) hand such
    /// keys out as they are stored; they cannot be decoded here, but they
    /// find their entry, so it can be read or deleted.
    ///
    /// ```
    /// use diskcache_shard::Key;
    /// // pickle.dumps((1, 2), protocol=5)
    /// let pickle = b"\x80\x05\x95\x07\0\0\0\0\0\0\0K\x01K\x02\x86\x94.";
    /// let key = Key::Packed(pickle.to_vec());
    /// assert!(key.is_pickled());
    /// assert!(matches!(key.decode::<(i64, i64)>(), Err(diskcache_shard::Error::Pickled { .. })));
    /// assert!(!Key::from_value(&(1, 2))?.is_pickled());
    /// # Ok::<(), diskcache_shard::Error>(())
    /// ```
    pub fn is_pickled(&self) -> bool {
        matches!(self, Key::Packed(bytes) if is_pickle(bytes))
    }

    /// The bytes the key takes in a row (numbers: 8).
    pub(crate) fn stored_len(&self) -> usize {
        match self {
            Key::Int(_) | Key::Real(_) => 8,
            Key::Text(t) => t.len(),
            Key::Bytes(b) | Key::Packed(b) => b.len(),
        }
    }

    /// The SQLite value and the `raw` flag stored for this key.
    pub(crate) fn to_sql(&self) -> (ToSqlOutput<'_>, bool) {
        match self {
            Key::Packed(bytes) => (ToSqlOutput::Borrowed(ValueRef::Blob(bytes)), false),
            other => (ToSqlOutput::Borrowed(other.as_value_ref()), true),
        }
    }

    fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Key::Int(i) => ValueRef::Integer(*i),
            Key::Real(r) => ValueRef::Real(*r),
            Key::Text(s) => ValueRef::Text(s.as_bytes()),
            Key::Bytes(b) | Key::Packed(b) => ValueRef::Blob(b),
        }
    }

    /// Rebuilds a key from its stored columns.
    pub(crate) fn from_sql(value: ValueRef<'_>, raw: bool) -> Result<Key> {
        Ok(match (value, raw) {
            (ValueRef::Blob(b), false) => Key::Packed(b.to_vec()),
            (ValueRef::Integer(i), _) => Key::Int(i),
            (ValueRef::Real(r), _) => Key::Real(r),
            (ValueRef::Text(t), _) => Key::Text(
                std::str::from_utf8(t)
                    .map_err(|_| Error::corrupt("key is not valid UTF-8"))?
                    .to_owned(),
            ),
            (ValueRef::Blob(b), true) => Key::Bytes(b.to_vec()),
            (ValueRef::Null, _) => return Err(Error::corrupt("key is NULL")),
        })
    }

    /// The stored form as an owned SQLite value (for tags).
    pub(crate) fn into_value(self) -> Value {
        match self {
            Key::Int(i) => Value::Integer(i),
            Key::Real(r) => Value::Real(r),
            Key::Text(s) => Value::Text(s),
            Key::Bytes(b) | Key::Packed(b) => Value::Blob(b),
        }
    }
}

/// The newtype name under which a [`Key::Packed`] serializes itself, so that
/// encoding a `Key` yields the same `Key` (see `Classify`).
const PACKED_KEY: &str = "$diskcache::PackedKey";

/// The newtype name under which the other keys serialize themselves, so that
/// a codec that would encode their content (JSON) can tell a stored key
/// passed back from a value (see `Probe`). Serializers other than ours see
/// through newtypes, so this changes no encoding.
const STORED_KEY: &str = "$diskcache::StoredKey";

/// A `Key` serializes to the value it stands for, so it can be passed back
/// wherever a key is taken: `cache.get(&key)` finds the entry `key` came from.
impl Serialize for Key {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Key::Int(i) => s.serialize_newtype_struct(STORED_KEY, i),
            Key::Real(r) => s.serialize_newtype_struct(STORED_KEY, r),
            Key::Text(t) => s.serialize_newtype_struct(STORED_KEY, t),
            Key::Bytes(b) => s.serialize_newtype_struct(STORED_KEY, &Raw(b)),
            Key::Packed(b) => s.serialize_newtype_struct(PACKED_KEY, &Raw(b)),
        }
    }
}

/// How a cache encodes keys and values, as python-diskcache's `Disk`
/// classes do; chosen per cache with
/// [`CacheBuilder::codec`](crate::CacheBuilder::codec), never stored in
/// the directory (python does not store its `disk=` either): every handle
/// on a directory must use the codec it was written with.
///
/// ```
/// use diskcache_shard::{Cache, Codec};
/// let cache = Cache::builder().codec(Codec::json()).open_temp()?;
/// cache.set("k", &vec![1.5, 2.0])?;
/// assert_eq!(cache.get::<Vec<f64>>("k")?, Some(vec![1.5, 2.0]));
/// assert_eq!(cache.codec(), Codec::Json { level: 1 });
/// # Ok::<(), diskcache_shard::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// python-diskcache's default `Disk` for the four native types (byte
    /// strings, text, integers, floats: stored as SQLite stores them) and
    /// MessagePack for every other shape (mode 5, this library only; python
    /// would pickle those, and the two do not cross).
    #[default]
    MessagePack,
    /// python-diskcache's `JSONDisk(compress_level=level)`: every key and
    /// every value, of any type, is `zlib.compress(json.dumps(x).encode(),
    /// level)` stored as bytes (an inline BLOB, or a binary file from
    /// `disk_min_file_size` bytes). Keys are byte-identical to python's, so
    /// each language finds the other's entries. Queue keys and tags stay
    /// native, as in python. `level` is zlib's, 0 to 9.
    Json {
        /// The zlib compression level, 0 (none) to 9 (smallest); python's
        /// default is 1.
        level: u32,
    },
}

impl Codec {
    /// JSON at python's default compression level, 1.
    pub const fn json() -> Codec {
        Codec::Json { level: 1 }
    }

    /// Refuses a zlib level outside 0 to 9.
    pub(crate) fn validate(self) -> Result<()> {
        match self {
            Codec::Json { level } if level > 9 => Err(Error::invalid(format!(
                "the zlib compression level must be from 0 to 9, not {level}"
            ))),
            _ => Ok(()),
        }
    }

    /// Encodes a key. With JSON, a [`Key`] passed back (from iteration, a
    /// queue, `peekitem`) is taken as it is stored, as with MessagePack.
    pub(crate) fn key<T: Serialize + ?Sized>(self, value: &T) -> Result<Key> {
        match self {
            Codec::MessagePack => encode(value),
            Codec::Json { level } => match value.serialize(Probe) {
                Ok(key) => Ok(key),
                Err(_) => Ok(Key::Bytes(crate::json::encode(value, level)?)),
            },
        }
    }

    /// Encodes a value to store.
    pub(crate) fn value<T: Serialize + ?Sized>(self, value: &T) -> Result<Key> {
        match self {
            Codec::MessagePack => encode(value),
            Codec::Json { level } => Ok(Key::Bytes(crate::json::encode(value, level)?)),
        }
    }

    /// Whether bytes stored raw (an inline BLOB or a binary file) are this
    /// codec's encoding rather than a byte string.
    pub(crate) fn bytes_are_encoded(self) -> bool {
        matches!(self, Codec::Json { .. })
    }

    /// Decodes a stored key into a `T`: with JSON, a byte-string key is
    /// the codec's encoding; other keys (queue keys) decode as
    /// [`Key::decode`] does.
    pub(crate) fn decode_key<T: DeserializeOwned + 'static>(self, key: &Key) -> Result<T> {
        match (self, key) {
            (Codec::Json { .. }, Key::Bytes(b)) => {
                crate::json::decode(b).map_err(|e| e.with_key(key))
            }
            _ => key.decode(),
        }
    }
}

/// Accepts a [`Key`] (by its newtype names) and nothing else.
struct Probe;

impl ser::Serializer for Probe {
    type Ok = Key;
    type Error = NotRaw;
    type SerializeSeq = Impossible<Key, NotRaw>;
    type SerializeTuple = Impossible<Key, NotRaw>;
    type SerializeTupleStruct = Impossible<Key, NotRaw>;
    type SerializeTupleVariant = Impossible<Key, NotRaw>;
    type SerializeMap = Impossible<Key, NotRaw>;
    type SerializeStruct = Impossible<Key, NotRaw>;
    type SerializeStructVariant = Impossible<Key, NotRaw>;

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Key, NotRaw> {
        match name {
            STORED_KEY | PACKED_KEY => value.serialize(Classify).map(|key| match key {
                Key::Bytes(b) if name == PACKED_KEY => Key::Packed(b),
                other => other,
            }),
            _ => Err(NotRaw::Compound),
        }
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Key, NotRaw> {
        Err(NotRaw::Compound)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Key, NotRaw> {
        Err(NotRaw::Compound)
    }
    compound! {
        serialize_bool(bool) -> Key;
        serialize_i8(i8) -> Key;
        serialize_i16(i16) -> Key;
        serialize_i32(i32) -> Key;
        serialize_i64(i64) -> Key;
        serialize_u8(u8) -> Key;
        serialize_u16(u16) -> Key;
        serialize_u32(u32) -> Key;
        serialize_u64(u64) -> Key;
        serialize_f32(f32) -> Key;
        serialize_f64(f64) -> Key;
        serialize_char(char) -> Key;
        serialize_str(&str) -> Key;
        serialize_bytes(&[u8]) -> Key;
        serialize_none() -> Key;
        serialize_unit() -> Key;
        serialize_unit_struct(&'static str) -> Key;
        serialize_unit_variant(&'static str, u32, &'static str) -> Key;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// Bytes that serialize as a byte string.
struct Raw<'a>(&'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Encodes a value: natively where its shape allows, else as MessagePack.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Key> {
    match value.serialize(Classify) {
        Ok(Key::Real(r)) if r.is_nan() => pack(value),
        Ok(key) => Ok(key),
        Err(NotRaw::Compound) => pack(value),
        Err(NotRaw::Failed(message)) => Err(Error::Encode { message }),
    }
}

fn pack<T: Serialize + ?Sized>(value: &T) -> Result<Key> {
    rmp_serde::to_vec_named(value)
        .map(Key::Packed)
        .map_err(|e| Error::Encode {
            message: e.to_string(),
        })
}

/// Whether `bytes` are a pickle of protocol 2 or later (python-diskcache
/// pickles with the highest protocol: 4 or 5). Such bytes are never one
/// MessagePack value: 0x80 is an empty map, complete in itself, and the
/// protocol byte would be left over. Without this check MessagePack reads
/// the empty map and ignores the rest.
pub(crate) fn is_pickle(bytes: &[u8]) -> bool {
    matches!(bytes, [0x80, 2..=5, ..])
}

/// Decodes MessagePack bytes; a pickle is [`Error::Pickled`].
pub(crate) fn unpack<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T> {
    if is_pickle(bytes) {
        return Err(Error::pickled());
    }
    rmp_serde::from_slice(bytes).map_err(|e| Error::mismatch(e.to_string()))
}

/// Decodes a natively stored SQLite value.
pub(crate) fn decode_raw<T: DeserializeOwned + 'static>(value: ValueRef<'_>) -> Result<T> {
    if let ValueRef::Blob(b) = value {
        if is_byte_vec::<T>() {
            if let Ok(v) = byte_vec(b.to_vec()) {
                return Ok(v);
            }
        }
    }
    T::deserialize(RawDe(value)).map_err(|e| Error::mismatch(e.0))
}

/// Whether `T` is `Vec<u8>`. serde builds a `Vec<u8>` one element at a
/// time (it has no way to special-case it), which made a 30 KiB value's
/// `get::<Vec<u8>>` 4x slower than `get::<ByteBuf>` (14.8 against 3.6 µs),
/// so decoding hands such a `Vec` over whole instead.
fn is_byte_vec<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<Vec<u8>>()
}

/// `bytes` as a `T` when `T` is `Vec<u8>`; the bytes back otherwise.
fn byte_vec<T: 'static>(bytes: Vec<u8>) -> std::result::Result<T, Vec<u8>> {
    let mut slot = Some(bytes);
    let any: &mut dyn Any = &mut slot;
    match any.downcast_mut::<Option<T>>().and_then(Option::take) {
        Some(value) => Ok(value),
        None => Err(slot.unwrap_or_default()),
    }
}

/// Why a value is not stored natively.
#[derive(Debug)]
enum NotRaw {
    /// Its shape needs MessagePack.
    Compound,
    /// Its `Serialize` implementation failed.
    Failed(String),
}

impl fmt::Display for NotRaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRaw::Compound => f.write_str("not a native value"),
            NotRaw::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for NotRaw {}

impl ser::Error for NotRaw {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NotRaw::Failed(msg.to_string())
    }
}

/// A serializer that only accepts the native shapes.
struct Classify;

fn int<T: TryInto<i64>>(v: T) -> Result<Key, NotRaw> {
    v.try_into().map(Key::Int).map_err(|_| NotRaw::Compound)
}

impl ser::Serializer for Classify {
    type Ok = Key;
    type Error = NotRaw;
    type SerializeSeq = Bytes;
    type SerializeTuple = Bytes;
    type SerializeTupleStruct = Impossible<Key, NotRaw>;
    type SerializeTupleVariant = Impossible<Key, NotRaw>;
    type SerializeMap = Impossible<Key, NotRaw>;
    type SerializeStruct = Impossible<Key, NotRaw>;
    type SerializeStructVariant = Impossible<Key, NotRaw>;

    fn serialize_i8(self, v: i8) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_i128(self, v: i128) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_u128(self, v: u128) -> Result<Key, NotRaw> {
        int(v)
    }
    fn serialize_f32(self, v: f32) -> Result<Key, NotRaw> {
        Ok(Key::Real(f64::from(v)))
    }
    fn serialize_f64(self, v: f64) -> Result<Key, NotRaw> {
        Ok(Key::Real(v))
    }
    fn serialize_str(self, v: &str) -> Result<Key, NotRaw> {
        Ok(Key::Text(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Key, NotRaw> {
        Ok(Key::Bytes(v.to_vec()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Key, NotRaw> {
        match value.serialize(self)? {
            Key::Bytes(b) if name == PACKED_KEY => Ok(Key::Packed(b)),
            other => Ok(other),
        }
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Bytes, NotRaw> {
        Ok(Bytes(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Bytes, NotRaw> {
        Ok(Bytes(Vec::with_capacity(len)))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Key, NotRaw> {
        Err(NotRaw::Compound)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<Key, NotRaw> {
        Err(NotRaw::Compound)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Key, NotRaw> {
        Err(NotRaw::Compound)
    }
    compound! {
        serialize_bool(bool) -> Key;
        serialize_char(char) -> Key;
        serialize_none() -> Key;
        serialize_unit() -> Key;
        serialize_unit_struct(&'static str) -> Key;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// Collects a sequence that turns out to be made only of `u8`.
struct Bytes(Vec<u8>);

impl Bytes {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRaw> {
        self.0.push(value.serialize(ByteOnly)?);
        Ok(())
    }
}

impl ser::SerializeSeq for Bytes {
    type Ok = Key;
    type Error = NotRaw;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRaw> {
        self.push(value)
    }
    fn end(self) -> Result<Key, NotRaw> {
        Ok(Key::Bytes(self.0))
    }
}

impl ser::SerializeTuple for Bytes {
    type Ok = Key;
    type Error = NotRaw;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), NotRaw> {
        self.push(value)
    }
    fn end(self) -> Result<Key, NotRaw> {
        Ok(Key::Bytes(self.0))
    }
}

/// Accepts a `u8` and nothing else.
struct ByteOnly;

impl ser::Serializer for ByteOnly {
    type Ok = u8;
    type Error = NotRaw;
    type SerializeSeq = Impossible<u8, NotRaw>;
    type SerializeTuple = Impossible<u8, NotRaw>;
    type SerializeTupleStruct = Impossible<u8, NotRaw>;
    type SerializeTupleVariant = Impossible<u8, NotRaw>;
    type SerializeMap = Impossible<u8, NotRaw>;
    type SerializeStruct = Impossible<u8, NotRaw>;
    type SerializeStructVariant = Impossible<u8, NotRaw>;

    fn serialize_u8(self, v: u8) -> Result<u8, NotRaw> {
        Ok(v)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<u8, NotRaw> {
        Err(NotRaw::Compound)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<u8, NotRaw> {
        Err(NotRaw::Compound)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<u8, NotRaw> {
        Err(NotRaw::Compound)
    }
    compound! {
        serialize_bool(bool) -> u8;
        serialize_i8(i8) -> u8;
        serialize_i16(i16) -> u8;
        serialize_i32(i32) -> u8;
        serialize_i64(i64) -> u8;
        serialize_u16(u16) -> u8;
        serialize_u32(u32) -> u8;
        serialize_u64(u64) -> u8;
        serialize_f32(f32) -> u8;
        serialize_f64(f64) -> u8;
        serialize_char(char) -> u8;
        serialize_str(&str) -> u8;
        serialize_bytes(&[u8]) -> u8;
        serialize_none() -> u8;
        serialize_unit() -> u8;
        serialize_unit_struct(&'static str) -> u8;
        serialize_unit_variant(&'static str, u32, &'static str) -> u8;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

/// Decodes the bytes of a binary value file. Types that take ownership of
/// bytes (`serde_bytes::ByteBuf`) get the buffer itself, without a copy.
pub(crate) fn decode_owned_bytes<T: DeserializeOwned + 'static>(bytes: Vec<u8>) -> Result<T> {
    match byte_vec(bytes) {
        Ok(v) => Ok(v),
        Err(bytes) => T::deserialize(OwnedBytes(bytes)).map_err(|e| Error::mismatch(e.0)),
    }
}

/// Deserializes an owned byte string.
struct OwnedBytes(Vec<u8>);

impl<'de> de::Deserializer<'de> for OwnedBytes {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_byte_buf(self.0)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_seq(de::value::SeqDeserializer::new(self.0.into_iter()))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple_struct map struct enum identifier ignored_any
    }
}

/// Error of the native deserializer: a message that becomes
/// [`Error::TypeMismatch`].
#[derive(Debug)]
struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

/// Deserializes one natively stored SQLite value.
struct RawDe<'a>(ValueRef<'a>);

impl<'de> de::Deserializer<'de> for RawDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            ValueRef::Null => visitor.visit_unit(),
            ValueRef::Integer(i) => visitor.visit_i64(i),
            ValueRef::Real(r) => visitor.visit_f64(r),
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(s) => visitor.visit_str(s),
                Err(_) => visitor.visit_bytes(t),
            },
            ValueRef::Blob(b) => visitor.visit_bytes(b),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            ValueRef::Blob(b) => {
                visitor.visit_seq(de::value::SeqDeserializer::new(b.iter().copied()))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            ValueRef::Blob(b) | ValueRef::Text(b) => visitor.visit_byte_buf(b.to_vec()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            ValueRef::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes unit unit_struct tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct User {
        name: String,
        id: u32,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Id(i64);

    #[test]
    fn native_shapes_stay_native() -> Result<()> {
        assert_eq!(encode(&-5i32)?, Key::Int(-5));
        assert!(!encode(&u64::MAX)?.to_sql().1);
        assert_eq!(encode(&1.5f64)?, Key::Real(1.5));
        assert_eq!(encode("text")?, Key::Text("text".into()));
        assert_eq!(encode(&b"ab"[..])?, Key::Bytes(b"ab".to_vec()));
        assert_eq!(encode(&[1u8, 2, 3])?, Key::Bytes(vec![1, 2, 3]));
        assert_eq!(
            encode(serde_bytes::Bytes::new(b"x"))?,
            Key::Bytes(b"x".to_vec())
        );
        assert_eq!(encode(&Id(9))?, Key::Int(9));
        Ok(())
    }

    #[test]
    fn byte_vectors_are_handed_over_whole_and_other_types_decode_as_before() -> Result<()> {
        let blob = ValueRef::Blob(&[1, 2, 255]);
        assert_eq!(decode_raw::<Vec<u8>>(blob)?, vec![1, 2, 255]);
        assert_eq!(decode_owned_bytes::<Vec<u8>>(vec![4, 5])?, vec![4, 5]);
        assert_eq!(
            decode_raw::<serde_bytes::ByteBuf>(blob)?.into_vec(),
            vec![1, 2, 255]
        );
        assert_eq!(decode_raw::<[u8; 3]>(blob)?, [1, 2, 255]);
        assert_eq!(decode_owned_bytes::<Vec<u16>>(vec![4, 5])?, vec![4u16, 5]);
        assert!(matches!(
            decode_raw::<String>(blob),
            Err(Error::TypeMismatch { .. })
        ));
        assert!(matches!(
            decode_raw::<Vec<u8>>(ValueRef::Integer(3)),
            Err(Error::TypeMismatch { .. })
        ));
        assert_eq!(byte_vec::<String>(vec![9]), Err(vec![9]));
        Ok(())
    }

    #[test]
    fn other_shapes_are_packed_and_round_trip() -> Result<()> {
        let user = User {
            name: "ada".into(),
            id: 7,
        };
        let key = encode(&user)?;
        assert!(matches!(key, Key::Packed(_)));
        assert_eq!(key.decode::<User>()?, user);
        assert!(matches!(encode(&vec![1u16, 2])?, Key::Packed(_)));
        assert!(matches!(encode(&Some(1))?, Key::Packed(_)));
        assert!(matches!(encode(&true)?, Key::Packed(_)));
        let nan = encode(&f64::NAN)?;
        assert!(nan.decode::<f64>()?.is_nan());
        Ok(())
    }

    #[test]
    fn a_key_encodes_to_itself() -> Result<()> {
        for key in [
            Key::Int(-4),
            Key::Real(2.5),
            Key::Text("t".into()),
            Key::Bytes(vec![1, 2]),
            encode(&("tuple", 1))?,
        ] {
            assert_eq!(encode(&key)?, key);
        }
        Ok(())
    }

    #[test]
    fn raw_values_decode_into_compatible_types() -> Result<()> {
        assert_eq!(decode_raw::<i64>(ValueRef::Integer(3))?, 3);
        assert_eq!(decode_raw::<u8>(ValueRef::Integer(3))?, 3);
        assert_eq!(decode_raw::<f64>(ValueRef::Integer(3))?, 3.0);
        assert_eq!(
            decode_raw::<Vec<u8>>(ValueRef::Blob(b"ab"))?,
            b"ab".to_vec()
        );
        assert_eq!(decode_raw::<String>(ValueRef::Text(b"hi"))?, "hi");
        assert_eq!(decode_raw::<Id>(ValueRef::Integer(4))?, Id(4));
        assert_eq!(decode_raw::<Option<i64>>(ValueRef::Null)?, None);
        let buf: serde_bytes::ByteBuf = decode_raw(ValueRef::Blob(b"zz"))?;
        assert_eq!(buf.as_slice(), b"zz");
        Ok(())
    }

    #[test]
    fn owned_bytes_decode_like_borrowed_ones() -> Result<()> {
        assert_eq!(decode_owned_bytes::<Vec<u8>>(vec![1, 2])?, vec![1, 2]);
        let buf: serde_bytes::ByteBuf = decode_owned_bytes(vec![3, 4])?;
        assert_eq!(buf.into_vec(), vec![3, 4]);
        assert_eq!(decode_owned_bytes::<String>(b"hi".to_vec())?, "hi");
        assert!(decode_owned_bytes::<i64>(vec![1]).is_err());
        Ok(())
    }

    #[test]
    fn wrong_type_is_a_typed_error() {
        assert!(matches!(
            decode_raw::<i64>(ValueRef::Text(b"x")),
            Err(Error::TypeMismatch { .. })
        ));
        assert!(matches!(
            decode_raw::<u8>(ValueRef::Integer(300)),
            Err(Error::TypeMismatch { .. })
        ));
        assert!(matches!(
            unpack::<User>(b"\xc1"),
            Err(Error::TypeMismatch { .. })
        ));
    }
}
