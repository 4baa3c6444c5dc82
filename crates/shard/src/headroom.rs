//! Culls skipped when they cannot find anything to do.
//!
//! Every write culls (see `Cache::cull_on_write`), and finding out whether
//! there is anything to cull takes a query: the earliest expiry of any row,
//! and the volume. That query is about a microsecond of a 15 µs set. When
//! it finds nothing to do, the handle remembers what it found, at the
//! WAL-index header its commit leaves. A later write that begins at that
//! same header (so nobody else has committed since) knows the state is the
//! one it left, and bounds what its own writes since can have added: at
//! most twice their bytes plus 64 pages each to the volume, and their own
//! expiry times. While the volume bound stays under the size limit and no
//! expiry is due, the query is skipped; otherwise it runs, as before.

use parking_lot::Mutex;

use crate::memo::Header;

/// Pages a single write is taken to add at most, beyond twice its bytes
/// (B-tree splits in the table and each index, pointer-map pages).
const PAGES_PER_WRITE: u64 = 64;

/// A bound on what a cull would find.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Known {
    /// At least the volume, in bytes.
    volume: u64,
    /// At most the earliest expiry of any row (`None`: no row expires).
    earliest: Option<f64>,
}

/// What one transaction knows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) enum Txn {
    /// It has not culled.
    #[default]
    Untouched,
    /// Its culls found nothing to do, within this bound.
    Known(Known),
    /// A cull deleted rows: what is left is unknown.
    Spoiled,
}

impl Txn {
    /// A cull's query, run inside the transaction after its write, found
    /// `earliest` and `volume`; `acted` when the cull then deleted rows.
    pub(crate) fn probed(&mut self, earliest: Option<f64>, volume: u64, acted: bool) {
        *self = if acted {
            Txn::Spoiled
        } else {
            Txn::Known(Known { volume, earliest })
        };
    }
}

/// The write about to cull: what it stored.
pub(crate) struct Write {
    pub(crate) now: f64,
    pub(crate) bytes: u64,
    pub(crate) page_size: u64,
    pub(crate) expire: Option<f64>,
    /// The size limit, or `u64::MAX` when no policy culls by size.
    pub(crate) limit: u64,
}

/// The handle's bound, at the header its last commit left.
#[derive(Default)]
pub(crate) struct Headroom {
    last: Mutex<Option<(Header, Known)>>,
    /// Culls skipped, for [`crate::Counters`].
    pub(crate) skips: std::sync::atomic::AtomicU64,
}

impl Headroom {
    /// Whether the cull after `write` can be skipped, in a transaction
    /// that began at header `before`; if so, `txn` carries the new bound.
    pub(crate) fn skip(&self, txn: &mut Txn, before: Option<Header>, write: &Write) -> bool {
        let base = match *txn {
            Txn::Known(known) => Some(known),
            Txn::Untouched => before.and_then(|b| match *self.last.lock() {
                Some((at, known)) if at == b => Some(known),
                _ => None,
            }),
            Txn::Spoiled => None,
        };
        let Some(base) = base else {
            return false;
        };
        let grown = write
            .bytes
            .saturating_mul(2)
            .saturating_add(PAGES_PER_WRITE * write.page_size);
        let next = Known {
            volume: base.volume.saturating_add(grown),
            earliest: match (base.earliest, write.expire) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        };
        let skip = next.volume < write.limit && next.earliest.is_none_or(|t| t >= write.now);
        if skip {
            *txn = Txn::Known(next);
            self.skips
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        skip
    }

    /// After a commit of this handle: `ours` is the header it left when
    /// the header moved by exactly that commit (else `None`).
    pub(crate) fn committed(&self, txn: &Txn, ours: Option<Header>) {
        let mut last = self.last.lock();
        *last = match (txn, ours) {
            (Txn::Known(known), Some(after)) => Some((after, *known)),
            // Nothing logged: the state, and the bound, are as they were.
            (Txn::Untouched, Some(after)) if last.is_some_and(|(at, _)| at == after) => *last,
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(change: u32) -> Header {
        let mut h = [0u32; 12];
        h[2] = change;
        h
    }

    fn write(now: f64, expire: Option<f64>) -> Write {
        Write {
            now,
            bytes: 100,
            page_size: 4096,
            expire,
            limit: 1 << 20,
        }
    }

    #[test]
    fn a_bound_carries_across_own_commits_only() {
        let room = Headroom::default();
        let mut txn = Txn::Untouched;
        // Nothing known yet: the cull queries.
        assert!(!room.skip(&mut txn, Some(header(1)), &write(10.0, None)));
        txn.probed(None, 100_000, false);
        room.committed(&txn, Some(header(2)));
        // The next write begins where that commit left: skipped.
        let mut txn = Txn::Untouched;
        assert!(room.skip(&mut txn, Some(header(2)), &write(11.0, None)));
        room.committed(&txn, Some(header(3)));
        // Someone else committed in between: the cull queries.
        let mut txn = Txn::Untouched;
        assert!(!room.skip(&mut txn, Some(header(4)), &write(12.0, None)));
        // A commit that was not provably ours forgets the bound.
        txn.probed(None, 100_000, false);
        room.committed(&txn, None);
        let mut txn = Txn::Untouched;
        assert!(!room.skip(&mut txn, Some(header(4)), &write(13.0, None)));
    }

    #[test]
    fn the_bound_grows_with_each_write_until_the_limit() {
        let room = Headroom::default();
        let mut txn = Txn::Untouched;
        txn.probed(None, 0, false);
        let per_write = 200 + PAGES_PER_WRITE * 4096;
        let fits = (1 << 20) / per_write;
        let mut skipped = 0;
        while room.skip(&mut txn, None, &write(1.0, None)) {
            skipped += 1;
        }
        assert_eq!(skipped, fits - u64::from((1 << 20) % per_write == 0));
    }

    #[test]
    fn a_due_expiry_or_a_cull_that_deleted_rows_means_querying() {
        let room = Headroom::default();
        let mut txn = Txn::Untouched;
        txn.probed(Some(50.0), 0, false);
        assert!(room.skip(&mut txn, None, &write(49.0, None)));
        assert!(!room.skip(&mut txn, None, &write(51.0, None)));
        // A write that expires before now.
        let mut txn = Txn::Untouched;
        txn.probed(None, 0, false);
        assert!(!room.skip(&mut txn, None, &write(10.0, Some(9.0))));
        assert!(room.skip(&mut txn, None, &write(10.0, Some(11.0))));
        assert!(!room.skip(&mut txn, None, &write(12.0, None)));
        // A cull that deleted rows.
        txn.probed(None, 0, true);
        assert!(!room.skip(&mut txn, None, &write(1.0, None)));
        room.committed(&txn, Some(header(1)));
        assert!(!room.skip(&mut Txn::Untouched, Some(header(1)), &write(1.0, None)));
    }
}
