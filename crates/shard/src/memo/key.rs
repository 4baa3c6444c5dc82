//! Keys as the read memo holds them, and as a read looks them up without
//! copying them.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use crate::codec::Key;

/// A key as the memo holds it.
#[derive(Clone, Debug)]
pub(crate) enum MemoKey {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Packed(Vec<u8>),
}

/// A key as a read looks it up, borrowed from the encoded key.
#[derive(Clone, Copy, Hash, PartialEq, Eq)]
pub(crate) enum KeyRef<'a> {
    Int(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Packed(&'a [u8]),
}

impl<'a> KeyRef<'a> {
    /// The memo's form of `key`; `None` for a float key.
    pub(crate) fn of(key: &'a Key) -> Option<Self> {
        Some(match key {
            Key::Int(i) => KeyRef::Int(*i),
            Key::Real(_) => return None,
            Key::Text(t) => KeyRef::Text(t),
            Key::Bytes(b) => KeyRef::Bytes(b),
            Key::Packed(b) => KeyRef::Packed(b),
        })
    }

    /// The key to remember.
    pub(crate) fn owned(self) -> MemoKey {
        match self {
            KeyRef::Int(i) => MemoKey::Int(i),
            KeyRef::Text(t) => MemoKey::Text(t.to_owned()),
            KeyRef::Bytes(b) => MemoKey::Bytes(b.to_vec()),
            KeyRef::Packed(b) => MemoKey::Packed(b.to_vec()),
        }
    }
}

/// What the memo's map hashes and compares, so that a read looks a key up
/// by [`KeyRef`] without copying it.
pub(crate) trait Keyed {
    fn key_ref(&self) -> KeyRef<'_>;
}

impl Keyed for MemoKey {
    fn key_ref(&self) -> KeyRef<'_> {
        match self {
            MemoKey::Int(i) => KeyRef::Int(*i),
            MemoKey::Text(t) => KeyRef::Text(t),
            MemoKey::Bytes(b) => KeyRef::Bytes(b),
            MemoKey::Packed(b) => KeyRef::Packed(b),
        }
    }
}

impl Keyed for KeyRef<'_> {
    fn key_ref(&self) -> KeyRef<'_> {
        *self
    }
}

impl<'a> Borrow<dyn Keyed + 'a> for MemoKey {
    fn borrow(&self) -> &(dyn Keyed + 'a) {
        self
    }
}

impl Hash for dyn Keyed + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key_ref().hash(state);
    }
}

impl PartialEq for dyn Keyed + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key_ref() == other.key_ref()
    }
}

impl Eq for dyn Keyed + '_ {}

// Hashed and compared as its `KeyRef`, as `Borrow` requires.
impl Hash for MemoKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key_ref().hash(state);
    }
}

impl PartialEq for MemoKey {
    fn eq(&self, other: &Self) -> bool {
        self.key_ref() == other.key_ref()
    }
}

impl Eq for MemoKey {}

impl MemoKey {
    /// The memo's form of `key`; `None` for a float key.
    pub(crate) fn of(key: &Key) -> Option<MemoKey> {
        KeyRef::of(key).map(KeyRef::owned)
    }

    pub(super) fn len(&self) -> usize {
        match self {
            MemoKey::Int(_) => 8,
            MemoKey::Text(t) => t.len(),
            MemoKey::Bytes(b) | MemoKey::Packed(b) => b.len(),
        }
    }
}
