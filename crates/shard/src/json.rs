//! JSON as python's `json` module writes and reads it with its defaults,
//! zlib-compressed: the codec of python-diskcache's `JSONDisk`.
//!
//! The text of a value is what `json.dumps(x)` makes of the python value
//! the serde value stands for: separators `", "` and `": "`, every
//! character outside printable ASCII escaped (`\uXXXX`, lowercase hex,
//! surrogate pairs above U+FFFF), floats as python's `repr` prints them
//! (`1.0`, `1e+16`, `1.5e-05`, `NaN`, `Infinity`, `-Infinity`), and maps in
//! the order serde hands their entries over. Keys must come out
//! byte-identical to python's, or the two languages would not find each
//! other's entries. The text is then compressed by zlib itself (the C
//! library CPython links), at the cache's level.
//!
//! serde shapes python has no JSON for follow serde_json's conventions: a
//! byte string is a list of integers; a unit variant is its name; another
//! variant is a one-entry object named after it.

use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

use crate::error::{Error, Result};

/// The output space CPython's `zlib.compress` hands zlib in turn (its
/// blocks output buffer, CPython 3.10 and later): 32 KiB, then 64 KiB,
/// 256 KiB, and so on, the last size repeated.
const PYTHON_BLOCKS: [usize; 17] = [
    32 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    4 << 20,
    8 << 20,
    16 << 20,
    16 << 20,
    32 << 20,
    32 << 20,
    32 << 20,
    32 << 20,
    64 << 20,
    64 << 20,
    128 << 20,
    128 << 20,
    256 << 20,
];

/// Compresses `text` as python's `zlib.compress(text, level)` does: one
/// deflate stream with a zlib header, window 15, memory level 8, finished
/// in one call per output block of python's sizes. (At level 0 zlib cuts
/// stored blocks where the output space ends, so the block sizes matter
/// for the bytes to be python's; at the other levels they do not.)
pub(crate) fn compress(text: &[u8], level: u32) -> Result<Vec<u8>> {
    let mut z = flate2::Compress::new(flate2::Compression::new(level), true);
    let mut out: Vec<u8> = Vec::new();
    let mut blocks = PYTHON_BLOCKS
        .iter()
        .copied()
        .chain(std::iter::repeat(256 << 20));
    loop {
        let block = blocks.next().unwrap_or(256 << 20);
        let start = out.len();
        out.resize(start + block, 0);
        let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let rest = text.get(consumed..).unwrap_or_default();
        let before = z.total_out();
        let status = z
            .compress(rest, &mut out[start..], flate2::FlushCompress::Finish)
            .map_err(|e| Error::Encode {
                message: format!("zlib: {e}"),
            })?;
        let written = usize::try_from(z.total_out() - before).unwrap_or(block);
        out.truncate(start + written);
        if status == flate2::Status::StreamEnd {
            return Ok(out);
        }
    }
}

/// Decompresses a zlib stream.
fn decompress(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(bytes.len() * 3);
    flate2::read::ZlibDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| Error::mismatch(format!("value is not zlib-compressed JSON: {e}")))?;
    Ok(out)
}

/// `json.dumps(value)` compressed at `level`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, level: u32) -> Result<Vec<u8>> {
    compress(to_text(value)?.as_bytes(), level)
}

/// The inverse of [`encode`]: decompresses and parses.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let text = decompress(bytes)?;
    let text =
        std::str::from_utf8(&text).map_err(|_| Error::mismatch("JSON value is not valid UTF-8"))?;
    from_text(text)
}

/// The text `json.dumps` makes of `value`.
pub(crate) fn to_text<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut out = String::new();
    value
        .serialize(&mut Writer { out: &mut out })
        .map_err(|e| Error::Encode { message: e.0 })?;
    Ok(out)
}

/// Parses JSON text as `json.loads` does (`NaN` and `Infinity` included)
/// into a `T`.
pub(crate) fn from_text<T: DeserializeOwned>(text: &str) -> Result<T> {
    let mut parser = Parser {
        s: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let value = parser
        .value()
        .and_then(|v| {
            parser.space();
            if parser.at == parser.s.len() {
                Ok(v)
            } else {
                Err(JsonError::new("extra data after the JSON value"))
            }
        })
        .map_err(|e| Error::mismatch(format!("JSON: {}", e.0)))?;
    T::deserialize(value).map_err(|e| Error::mismatch(e.0))
}

/// A message, as the error of both directions.
#[derive(Debug)]
pub(crate) struct JsonError(String);

impl JsonError {
    fn new(message: impl Into<String>) -> Self {
        JsonError(message.into())
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

impl ser::Error for JsonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        JsonError(msg.to_string())
    }
}

impl de::Error for JsonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        JsonError(msg.to_string())
    }
}

type Res<T = ()> = std::result::Result<T, JsonError>;

/// A float as python's `repr` prints it (and so `json.dumps`).
pub(crate) fn python_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` prints the shortest digits that read back as `v`, as
    // python's repr does; only the layout differs.
    layout(&format!("{v:e}"))
}

/// An `f32` the same way, from its own shortest digits.
fn python_float32(v: f32) -> String {
    if v.is_nan() || v.is_infinite() {
        return python_float(f64::from(v));
    }
    layout(&format!("{v:e}"))
}

/// Lays out `[-]d[.ddd]e[-]x` as python's repr does: positional when the
/// decimal exponent is from -4 to 15, else `d.ddde+XX` with at least two
/// exponent digits.
fn layout(sci: &str) -> String {
    let (negative, sci) = match sci.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sci),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if digits.bytes().all(|b| b == b'0') {
        out.push_str("0.0");
        return out;
    }
    let point = exp + 1;
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if -4 < point && point <= 16 {
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else if point >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n(
                '0',
                (point - n).unsigned_abs() as usize,
            ));
            out.push_str(".0");
        } else {
            let (int, frac) = digits.split_at(point.unsigned_abs() as usize);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
    out
}

/// Writes `s` as a JSON string with `ensure_ascii`.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// The serializer: appends JSON text to `out`.
struct Writer<'a> {
    out: &'a mut String,
}

/// A list or object being written; `close` ends it (and any variant
/// object around it).
struct Compound<'a, 'b> {
    w: &'b mut Writer<'a>,
    first: bool,
    close: &'static str,
}

impl Compound<'_, '_> {
    fn sep(&mut self) {
        if !self.first {
            self.w.out.push_str(", ");
        }
        self.first = false;
    }
}

impl<'a, 'b> Writer<'a> {
    fn open(&'b mut self, open: &str, close: &'static str) -> Compound<'a, 'b> {
        self.out.push_str(open);
        Compound {
            w: self,
            first: true,
            close,
        }
    }

    fn variant(&mut self, name: &str) {
        self.out.push('{');
        write_str(self.out, name);
        self.out.push_str(": ");
    }
}

macro_rules! ints {
    ($($name:ident($t:ty)),*) => {
        $(fn $name(self, v: $t) -> Res {
            let _ = write!(self.out, "{v}");
            Ok(())
        })*
    };
}

impl<'a, 'b> ser::Serializer for &'b mut Writer<'a> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    ints!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128)
    );

    fn serialize_bool(self, v: bool) -> Res {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Res {
        self.out.push_str(&python_float32(v));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Res {
        self.out.push_str(&python_float(v));
        Ok(())
    }
    fn serialize_char(self, v: char) -> Res {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Res {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Res {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Res {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Res {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Res {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Res {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Res {
        self.variant(variant);
        value.serialize(&mut *self)?;
        self.out.push('}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Res<Compound<'a, 'b>> {
        Ok(self.open("[", "]"))
    }
    fn serialize_tuple(self, _: usize) -> Res<Compound<'a, 'b>> {
        Ok(self.open("[", "]"))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Res<Compound<'a, 'b>> {
        Ok(self.open("[", "]"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Res<Compound<'a, 'b>> {
        self.variant(variant);
        Ok(self.open("[", "]}"))
    }
    fn serialize_map(self, _: Option<usize>) -> Res<Compound<'a, 'b>> {
        Ok(self.open("{", "}"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Res<Compound<'a, 'b>> {
        Ok(self.open("{", "}"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Res<Compound<'a, 'b>> {
        self.variant(variant);
        Ok(self.open("{", "}}"))
    }
}

macro_rules! seq_like {
    ($($tr:ident :: $method:ident),*) => {
        $(impl ser::$tr for Compound<'_, '_> {
            type Ok = ();
            type Error = JsonError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
                self.sep();
                value.serialize(&mut *self.w)
            }
            fn end(self) -> Res {
                self.w.out.push_str(self.close);
                Ok(())
            }
        })*
    };
}

seq_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = JsonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Res {
        self.sep();
        key.serialize(MapKey { out: self.w.out })?;
        self.w.out.push_str(": ");
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Res {
        self.w.out.push_str(self.close);
        Ok(())
    }
}

macro_rules! struct_like {
    ($($tr:ident),*) => {
        $(impl ser::$tr for Compound<'_, '_> {
            type Ok = ();
            type Error = JsonError;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res {
                self.sep();
                write_str(self.w.out, key);
                self.w.out.push_str(": ");
                value.serialize(&mut *self.w)
            }
            fn end(self) -> Res {
                self.w.out.push_str(self.close);
                Ok(())
            }
        })*
    };
}

struct_like!(SerializeStruct, SerializeStructVariant);

/// Writes an object key: `json.dumps` turns `str`, `int`, `float`, `bool`
/// and `None` keys into strings and refuses any other.
struct MapKey<'a> {
    out: &'a mut String,
}

impl MapKey<'_> {
    fn text(self, s: &str) -> Res {
        write_str(self.out, s);
        Ok(())
    }
}

macro_rules! int_keys {
    ($($name:ident($t:ty)),*) => {
        $(fn $name(self, v: $t) -> Res {
            self.text(&v.to_string())
        })*
    };
}

fn not_a_key<T>() -> Res<T> {
    Err(JsonError::new(
        "a JSON object key must be a string, number, bool or unit",
    ))
}

impl ser::Serializer for MapKey<'_> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = ser::Impossible<(), JsonError>;
    type SerializeTuple = ser::Impossible<(), JsonError>;
    type SerializeTupleStruct = ser::Impossible<(), JsonError>;
    type SerializeTupleVariant = ser::Impossible<(), JsonError>;
    type SerializeMap = ser::Impossible<(), JsonError>;
    type SerializeStruct = ser::Impossible<(), JsonError>;
    type SerializeStructVariant = ser::Impossible<(), JsonError>;

    int_keys!(
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128)
    );

    fn serialize_bool(self, v: bool) -> Res {
        self.text(if v { "true" } else { "false" })
    }
    fn serialize_f32(self, v: f32) -> Res {
        let s = python_float32(v);
        self.text(&s)
    }
    fn serialize_f64(self, v: f64) -> Res {
        let s = python_float(v);
        self.text(&s)
    }
    fn serialize_char(self, v: char) -> Res {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Res {
        self.text(v)
    }
    fn serialize_bytes(self, _: &[u8]) -> Res {
        not_a_key()
    }
    fn serialize_none(self) -> Res {
        self.text("null")
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Res {
        self.text("null")
    }
    fn serialize_unit_struct(self, _: &'static str) -> Res {
        self.text("null")
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Res {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Res {
        not_a_key()
    }
    fn serialize_seq(self, _: Option<usize>) -> Res<Self::SerializeSeq> {
        not_a_key()
    }
    fn serialize_tuple(self, _: usize) -> Res<Self::SerializeTuple> {
        not_a_key()
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Res<Self::SerializeTupleStruct> {
        not_a_key()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Res<Self::SerializeTupleVariant> {
        not_a_key()
    }
    fn serialize_map(self, _: Option<usize>) -> Res<Self::SerializeMap> {
        not_a_key()
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Res<Self::SerializeStruct> {
        not_a_key()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Res<Self::SerializeStructVariant> {
        not_a_key()
    }
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// How deep lists and objects may nest (python's default recursion limit
/// stops near 1000 too).
const MAX_DEPTH: usize = 1000;

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while matches!(self.s.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn error<T>(&self, what: &str) -> Res<T> {
        Err(JsonError::new(format!("{what} at byte {}", self.at)))
    }

    fn value(&mut self) -> Res<Json> {
        self.space();
        let Some(&c) = self.s.get(self.at) else {
            return self.error("unexpected end");
        };
        match c {
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::list),
            b'"' => self.string().map(Json::Str),
            _ if self.eat("null") => Ok(Json::Null),
            _ if self.eat("true") => Ok(Json::Bool(true)),
            _ if self.eat("false") => Ok(Json::Bool(false)),
            _ if self.eat("NaN") => Ok(Json::Float(f64::NAN)),
            _ if self.eat("Infinity") => Ok(Json::Float(f64::INFINITY)),
            _ if self.eat("-Infinity") => Ok(Json::Float(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.error("unexpected character"),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Res<Json>) -> Res<Json> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error("nested too deeply");
        }
        self.at += 1;
        let value = f(self);
        self.depth -= 1;
        value
    }

    fn list(&mut self) -> Res<Json> {
        let mut items = Vec::new();
        self.space();
        if self.eat("]") {
            return Ok(Json::List(items));
        }
        loop {
            items.push(self.value()?);
            self.space();
            if self.eat("]") {
                return Ok(Json::List(items));
            }
            if !self.eat(",") {
                return self.error("expected ',' or ']'");
            }
        }
    }

    fn object(&mut self) -> Res<Json> {
        let mut entries = Vec::new();
        self.space();
        if self.eat("}") {
            return Ok(Json::Object(entries));
        }
        loop {
            self.space();
            if self.s.get(self.at) != Some(&b'"') {
                return self.error("expected a string key");
            }
            let key = self.string()?;
            self.space();
            if !self.eat(":") {
                return self.error("expected ':'");
            }
            entries.push((key, self.value()?));
            self.space();
            if self.eat("}") {
                return Ok(Json::Object(entries));
            }
            if !self.eat(",") {
                return self.error("expected ',' or '}'");
            }
        }
    }

    fn number(&mut self) -> Res<Json> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while matches!(p.s.get(p.at), Some(b'0'..=b'9')) {
                p.at += 1;
            }
            p.at - from
        };
        if self.s.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        if digits(self) == 0 {
            return self.error("expected a digit");
        }
        let mut float = false;
        if self.s.get(self.at) == Some(&b'.') {
            self.at += 1;
            float = true;
            if digits(self) == 0 {
                return self.error("expected a digit after '.'");
            }
        }
        if matches!(self.s.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            float = true;
            if matches!(self.s.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return self.error("expected an exponent");
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("0");
        if !float {
            if let Ok(i) = text.parse::<i128>() {
                return Ok(Json::Int(i));
            }
        }
        match text.parse::<f64>() {
            Ok(f) => Ok(Json::Float(f)),
            Err(_) => self.error("bad number"),
        }
    }

    fn hex4(&mut self) -> Res<u32> {
        let Some(hex) = self.s.get(self.at..self.at + 4) else {
            return self.error("short \\u escape");
        };
        let parsed = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        match parsed {
            Some(v) => {
                self.at += 4;
                Ok(v)
            }
            None => self.error("bad \\u escape"),
        }
    }

    fn string(&mut self) -> Res<String> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let run = self.at;
            while !matches!(self.s.get(self.at), None | Some(b'"' | b'\\')) {
                self.at += 1;
            }
            match std::str::from_utf8(&self.s[run..self.at]) {
                Ok(text) => out.push_str(text),
                Err(_) => return self.error("invalid UTF-8 in a string"),
            }
            let Some(&c) = self.s.get(self.at) else {
                return self.error("unterminated string");
            };
            self.at += 1;
            if c == b'"' {
                return Ok(out);
            }
            let Some(&e) = self.s.get(self.at) else {
                return self.error("unterminated escape");
            };
            self.at += 1;
            match e {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let first = self.hex4()?;
                    let code = if (0xd800..0xdc00).contains(&first) && self.eat("\\u") {
                        let second = self.hex4()?;
                        if !(0xdc00..0xe000).contains(&second) {
                            return self.error("unpaired surrogate");
                        }
                        0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
                    } else {
                        first
                    };
                    match char::from_u32(code) {
                        Some(ch) => out.push(ch),
                        None => return self.error("unpaired surrogate"),
                    }
                }
                _ => return self.error("unknown escape"),
            }
        }
    }
}

impl<'de> IntoDeserializer<'de, JsonError> for Json {
    type Deserializer = Json;
    fn into_deserializer(self) -> Json {
        self
    }
}

impl<'de> de::Deserializer<'de> for Json {
    type Error = JsonError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Res<V::Value> {
        match self {
            Json::Null => visitor.visit_unit(),
            Json::Bool(b) => visitor.visit_bool(b),
            Json::Int(i) => match (i64::try_from(i), u64::try_from(i)) {
                (Ok(v), _) => visitor.visit_i64(v),
                (_, Ok(v)) => visitor.visit_u64(v),
                _ => visitor.visit_i128(i),
            },
            Json::Float(f) => visitor.visit_f64(f),
            Json::Str(s) => visitor.visit_string(s),
            Json::List(items) => {
                let mut seq = de::value::SeqDeserializer::new(items.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Json::Object(entries) => {
                let mut map = de::value::MapDeserializer::new(
                    entries.into_iter().map(|(k, v)| (ObjectKey(k), v)),
                );
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Res<V::Value> {
        match self {
            Json::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Res<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Res<V::Value> {
        match self {
            Json::Str(name) => visitor.visit_enum(name.into_deserializer()),
            Json::Object(mut entries) if entries.len() == 1 => match entries.pop() {
                Some((name, value)) => visitor.visit_enum(Variant { name, value }),
                None => Err(JsonError::new("expected an enum")),
            },
            _ => Err(JsonError::new(
                "expected an enum: a string or a one-entry object",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// An enum variant written as a one-entry object.
struct Variant {
    name: String,
    value: Json,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = JsonError;
    type Variant = Json;
    fn variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Res<(S::Value, Json)> {
        let name = seed.deserialize(self.name.into_deserializer())?;
        Ok((name, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Json {
    type Error = JsonError;
    fn unit_variant(self) -> Res {
        de::Deserialize::deserialize(self)
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Res<S::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Res<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Res<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

/// An object key: a string that may stand for a number or bool (as
/// `json.dumps` writes such keys).
struct ObjectKey(String);

impl<'de> IntoDeserializer<'de, JsonError> for ObjectKey {
    type Deserializer = ObjectKey;
    fn into_deserializer(self) -> ObjectKey {
        self
    }
}

macro_rules! parsed_key {
    ($($name:ident => $visit:ident($t:ty)),*) => {
        $(fn $name<V: Visitor<'de>>(self, visitor: V) -> Res<V::Value> {
            match self.0.parse::<$t>() {
                Ok(v) => visitor.$visit(v),
                Err(_) => visitor.visit_string(self.0),
            }
        })*
    };
}

impl<'de> de::Deserializer<'de> for ObjectKey {
    type Error = JsonError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Res<V::Value> {
        visitor.visit_string(self.0)
    }

    parsed_key!(
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
        deserialize_bool => visit_bool(bool)
    );

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Res<V::Value> {
        match self.0.as_str() {
            "NaN" => visitor.visit_f64(f64::NAN),
            "Infinity" => visitor.visit_f64(f64::INFINITY),
            "-Infinity" => visitor.visit_f64(f64::NEG_INFINITY),
            s => match s.parse::<f64>() {
                Ok(v) => visitor.visit_f64(v),
                Err(_) => visitor.visit_string(self.0),
            },
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Res<V::Value> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Res<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Res<V::Value> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn floats_print_as_python_repr() {
        for (v, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (123_456_789_012_345_680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (1e-300, "1e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1.0 / 3.0, "0.3333333333333333"),
        ] {
            assert_eq!(python_float(v), want, "{v:e}");
        }
    }

    #[test]
    fn text_follows_json_dumps_defaults() -> Result<()> {
        assert_eq!(to_text(&vec![1, 2, 3])?, "[1, 2, 3]");
        assert_eq!(
            to_text("é\u{1F600}\u{7f}\"\\\n\u{1}")?,
            r#""\u00e9\ud83d\ude00\u007f\"\\\n\u0001""#
        );
        let mut map = BTreeMap::new();
        map.insert(2, Some(true));
        map.insert(10, None);
        assert_eq!(to_text(&map)?, r#"{"2": true, "10": null}"#);
        assert_eq!(to_text(&(1.0, "a", ()))?, r#"[1.0, "a", null]"#);
        assert_eq!(to_text(&Vec::<i32>::new())?, "[]");
        assert_eq!(to_text(&u64::MAX)?, "18446744073709551615");
        Ok(())
    }

    #[test]
    fn text_reads_back_as_python_writes_it() -> Result<()> {
        let v: Vec<f64> = from_text("[NaN, Infinity, -Infinity, 1e+16, -0.0]")?;
        assert!(v[0].is_nan());
        assert_eq!(&v[1..], &[f64::INFINITY, f64::NEG_INFINITY, 1e16, -0.0]);
        let s: String = from_text(r#""\u00e9\ud83d\ude00\/""#)?;
        assert_eq!(s, "é\u{1F600}/");
        let m: BTreeMap<i64, Option<bool>> = from_text(r#"{"2": true, "10": null}"#)?;
        assert_eq!(m.get(&10), Some(&None));
        assert!(from_text::<i64>("1 2").is_err());
        assert!(from_text::<String>(r#""\ud800""#).is_err());
        Ok(())
    }

    #[test]
    fn compression_round_trips() -> Result<()> {
        let text = to_text(&vec!["x"; 1000])?;
        let packed = compress(text.as_bytes(), 1)?;
        assert!(packed.len() < text.len());
        assert_eq!(decompress(&packed)?, text.as_bytes());
        assert_eq!(
            decode::<Vec<String>>(&encode(&vec!["x"; 3], 9)?)?,
            vec!["x"; 3]
        );
        Ok(())
    }
}
