//! What happens after a commit: the parts of a handle that keep state about
//! the database (the read memo, the cull-skip bound, the checkpointer) are
//! told what the commit changed, one after another, through one trait.

use std::cell::Cell;

use rusqlite::Connection;

use crate::memo::Header;
use crate::txn::TxnState;

/// One commit of this handle, as its observers see it.
pub(crate) struct Commit<'a> {
    /// The connection it was made on (still free of any transaction).
    pub(crate) conn: &'a Connection,
    /// The generation of the handle's connections (see `Connections`).
    pub(crate) generation: u64,
    /// What the transaction did.
    pub(crate) state: &'a TxnState,
    /// Whether it wrote to the log (SQLite's WAL hook ran).
    pub(crate) logged: bool,
    /// The WAL-index header it left, when the memo could tell that the
    /// header moved by exactly this commit; set by the memo, read by the
    /// observers after it.
    pub(crate) accounted: Cell<Option<Header>>,
}

/// Something told about every commit of its handle.
pub(crate) trait CommitObserver {
    /// Called once per commit, in the handle's order of observers.
    fn committed(&self, commit: &Commit<'_>);
}

impl CommitObserver for crate::memo::Memo {
    fn committed(&self, commit: &Commit<'_>) {
        let state = commit.state;
        let after = self.committed(commit.generation, state.before, commit.logged, &state.memo);
        commit.accounted.set(after);
    }
}

impl CommitObserver for crate::headroom::Headroom {
    fn committed(&self, commit: &Commit<'_>) {
        self.committed(&commit.state.headroom, commit.accounted.get());
    }
}

impl CommitObserver for crate::checkpoint::Checkpointer {
    fn committed(&self, commit: &Commit<'_>) {
        self.committed(commit.conn);
    }
}
