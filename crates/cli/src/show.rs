//! Keys as command-line arguments, and values as text.
//!
//! A key argument is text unless it starts with a type prefix: `int:42`,
//! `float:1.5`, `hex:00ff` (bytes), `packed:82a1…` (MessagePack bytes, as
//! `keys` prints a key of any other serde type) or `text:` (text that would
//! otherwise look like a prefix). `keys` prints keys in the same form, so a
//! printed key can be passed back.

use std::fmt::{self, Write as _};

use diskcache::Key;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

const PREFIXES: [&str; 5] = ["int:", "float:", "hex:", "packed:", "text:"];

/// The key (or tag) that a command-line argument names.
pub(crate) fn parse_key(arg: &str) -> Result<Key, String> {
    let bad = |what: &str| format!("{arg:?} is not {what}");
    if let Some(rest) = arg.strip_prefix("int:") {
        return rest.parse().map(Key::Int).map_err(|_| bad("an integer"));
    }
    if let Some(rest) = arg.strip_prefix("float:") {
        return rest.parse().map(Key::Real).map_err(|_| bad("a float"));
    }
    if let Some(rest) = arg.strip_prefix("hex:") {
        return from_hex(rest)
            .map(Key::Bytes)
            .ok_or_else(|| bad("hex bytes"));
    }
    if let Some(rest) = arg.strip_prefix("packed:") {
        return from_hex(rest)
            .map(Key::Packed)
            .ok_or_else(|| bad("hex bytes"));
    }
    Ok(Key::Text(
        arg.strip_prefix("text:").unwrap_or(arg).to_owned(),
    ))
}

/// A key in the form [`parse_key`] reads back. Text with control
/// characters is printed escaped and quoted (and does not read back).
pub(crate) fn key_arg(key: &Key) -> String {
    match key {
        Key::Int(i) => format!("int:{i}"),
        Key::Real(r) => format!("float:{r:?}"),
        Key::Bytes(b) => format!("hex:{}", to_hex(b)),
        Key::Packed(b) => format!("packed:{}", to_hex(b)),
        Key::Text(t) if t.chars().any(char::is_control) => format!("{t:?}"),
        Key::Text(t) if PREFIXES.iter().any(|p| t.starts_with(p)) => format!("text:{t}"),
        Key::Text(t) => t.clone(),
        other => format!("{other:?}"),
    }
}

/// Bytes as lower-case hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Any stored value, decoded without knowing its type in advance.
#[derive(Debug, PartialEq)]
pub(crate) enum Shown {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    List(Vec<Shown>),
    Map(Vec<(Shown, Shown)>),
}

/// JSON where the value fits it; bytes as `hex:…`.
impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Null => f.write_str("null"),
            Shown::Bool(b) => write!(f, "{b}"),
            Shown::Int(i) => write!(f, "{i}"),
            Shown::Float(x) => write!(f, "{x:?}"),
            Shown::Text(t) => write!(f, "\"{}\"", t.escape_default()),
            Shown::Bytes(b) => write!(f, "\"hex:{}\"", to_hex(b)),
            Shown::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Shown::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl<'de> Deserialize<'de> for Shown {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShownVisitor)
    }
}

struct ShownVisitor;

impl<'de> Visitor<'de> for ShownVisitor {
    type Value = Shown;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Shown, E> {
        Ok(Shown::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Shown, E> {
        Ok(Shown::Int(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Shown, E> {
        Ok(Shown::Int(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Shown, E> {
        Ok(Shown::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Shown, E> {
        Ok(Shown::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Shown, E> {
        Ok(Shown::Text(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Shown, E> {
        Ok(Shown::Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Shown, E> {
        Ok(Shown::Bytes(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Shown, E> {
        Ok(Shown::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shown, E> {
        Ok(Shown::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Shown, D::Error> {
        Shown::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Shown, D::Error> {
        Shown::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shown, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Shown::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shown, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Shown::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_keys_read_back() -> Result<(), String> {
        let packed = Key::from_value(&("user", 42)).map_err(|e| e.to_string())?;
        for key in [
            Key::Int(-7),
            Key::Real(1.0),
            Key::Real(-0.25),
            Key::Bytes(vec![0, 1, 254, 255]),
            Key::Text("plain".into()),
            Key::Text("int:not a number".into()),
            Key::Text(String::new()),
            packed,
        ] {
            assert_eq!(parse_key(&key_arg(&key))?, key, "{}", key_arg(&key));
        }
        assert_eq!(parse_key("text:hex:zz")?, Key::Text("hex:zz".into()));
        Ok(())
    }

    #[test]
    fn malformed_typed_keys_are_errors() {
        for bad in [
            "int:1.5", "int:", "float:x", "hex:abc", "hex:zz", "packed:1",
        ] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn packed_values_show_as_json() -> Result<(), diskcache::Error> {
        let key = Key::from_value(&(("a", 1u8), vec![1.5f64], Some(true), None::<u8>))?;
        let shown: Shown = key.decode()?;
        assert_eq!(shown.to_string(), r#"[["a", 1], [1.5], true, null]"#);
        let map = Key::from_value(&std::collections::BTreeMap::from([("k", "v\n")]))?;
        assert_eq!(map.decode::<Shown>()?.to_string(), r#"{"k": "v\n"}"#);
        Ok(())
    }
}
