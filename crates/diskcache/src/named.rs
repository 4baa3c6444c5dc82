//! [`Named`]: a [`Deque`] or [`Index`] by name inside a [`FanoutCache`]'s
//! directory, where python-diskcache puts them (`deque/<name>`,
//! `index/<name>`).

use diskcache_fanout::{FanoutCache, Result, sub_dir};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Deque, Index};

/// Opens named persistent collections under a [`FanoutCache`]'s directory.
pub trait Named {
    /// The deque named `name` (in `<dir>/deque/<name>`).
    fn deque<V: Serialize + DeserializeOwned + 'static>(&self, name: &str) -> Result<Deque<V>>;
    /// The index named `name` (in `<dir>/index/<name>`).
    fn index<K, V>(&self, name: &str) -> Result<Index<K, V>>
    where
        K: Serialize + DeserializeOwned + 'static,
        V: Serialize + DeserializeOwned + 'static;
}

impl Named for FanoutCache {
    fn deque<V: Serialize + DeserializeOwned + 'static>(&self, name: &str) -> Result<Deque<V>> {
        Deque::open(sub_dir(self.directory(), "deque", name)?)
    }

    fn index<K, V>(&self, name: &str) -> Result<Index<K, V>>
    where
        K: Serialize + DeserializeOwned + 'static,
        V: Serialize + DeserializeOwned + 'static,
    {
        Index::open(sub_dir(self.directory(), "index", name)?)
    }
}
