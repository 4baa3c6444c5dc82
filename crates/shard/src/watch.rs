//! Noticing cheaply that `cache.db` was replaced or removed.
//!
//! Every write checks, inside its transaction, that `cache.db` is still
//! the file its connection opened (see `Connections::follow_file`). The
//! check itself is a `stat` of the path, about a microsecond here, 5% of a
//! small set. So on Linux the process keeps one inotify instance watching
//! each cache directory for `cache.db` being created, removed or renamed
//! (and for the directory itself going away), and a write first reads that
//! instance without blocking: a third of the cost. Only when an event
//! concerns its directory, or nothing can be watched, does it `stat`. The
//! kernel queues an event before the rename or unlink that causes it
//! returns, so a change made before a write begins is never missed.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use inotified::Watch;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use unwatched::Watch;

/// Elsewhere nothing is watched: every write checks by `stat`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod unwatched {
    /// No watch: [`may_have_changed`](Watch::may_have_changed) is always true.
    pub(crate) struct Watch;

    impl Watch {
        pub(crate) fn new(_: &std::path::Path) -> Self {
            Watch
        }

        pub(crate) fn may_have_changed(&self) -> bool {
            true
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod inotified {
    use std::collections::HashMap;
    use std::mem::MaybeUninit;
    use std::os::fd::OwnedFd;
    use std::path::Path;
    use std::sync::Mutex;

    use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

    use crate::files::DB_NAME;

    /// The inotify instance of this process.
    struct Instance {
        pid: u32,
        fd: OwnedFd,
        /// Events seen per watched directory (by watch descriptor).
        changes: HashMap<i32, u64>,
        /// Times the kernel's event queue overflowed (events were lost).
        overflows: u64,
    }

    static INSTANCE: Mutex<Option<Instance>> = Mutex::new(None);

    /// One handle's watch on its cache directory.
    pub(crate) struct Watch {
        dir: std::path::PathBuf,
        /// The process, watch descriptor and the counts last seen.
        seen: Mutex<Option<Seen>>,
    }

    #[derive(Clone, Copy)]
    struct Seen {
        pid: u32,
        wd: i32,
        changes: u64,
        overflows: u64,
    }

    impl Watch {
        /// A watch on `dir` (made on first use, in each process).
        pub(crate) fn new(dir: &Path) -> Self {
            Watch {
                dir: dir.to_path_buf(),
                seen: Mutex::new(None),
            }
        }

        /// Whether `cache.db` in the directory may have changed since the last
        /// call that answered true (or since the watch was made): true unless
        /// the kernel says nothing happened to it.
        pub(crate) fn may_have_changed(&self) -> bool {
            let pid = std::process::id();
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let mut instance = INSTANCE.lock().unwrap_or_else(|e| e.into_inner());
            let Some(instance) = current(&mut instance, pid) else {
                return true;
            };
            let known = match *seen {
                Some(s) if s.pid == pid => s,
                _ => {
                    // First use in this process: watch, and check once by hand.
                    let Ok(wd) = inotify::add_watch(&instance.fd, &self.dir, interesting()) else {
                        return true;
                    };
                    *seen = Some(Seen {
                        pid,
                        wd,
                        changes: instance.changes.get(&wd).copied().unwrap_or(0),
                        overflows: instance.overflows,
                    });
                    return true;
                }
            };
            if !instance.drain() {
                return true;
            }
            let now = Seen {
                changes: instance.changes.get(&known.wd).copied().unwrap_or(0),
                overflows: instance.overflows,
                ..known
            };
            *seen = Some(now);
            now.changes != known.changes || now.overflows != known.overflows
        }
    }

    /// What is watched: `cache.db` made, removed or renamed, and the directory
    /// itself removed or moved.
    fn interesting() -> WatchFlags {
        WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::MOVED_TO
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR
    }

    /// This process's instance, made if there is none (a child after `fork`
    /// shares its parent's, whose events it must not take, so it makes one).
    fn current(slot: &mut Option<Instance>, pid: u32) -> Option<&mut Instance> {
        if slot.as_ref().is_none_or(|i| i.pid != pid) {
            let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).ok()?;
            if let Some(old) = slot.replace(Instance {
                pid,
                fd,
                changes: HashMap::new(),
                overflows: 0,
            }) {
                // The parent's: closing this process's copy leaves it its own.
                drop(old);
            }
        }
        slot.as_mut()
    }

    impl Instance {
        /// Reads every queued event, counting those that concern `cache.db` or
        /// a watched directory itself; false when the instance cannot be read.
        fn drain(&mut self) -> bool {
            let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
            let mut reader = inotify::Reader::new(&self.fd, &mut buf);
            // Bounded: the queue holds at most the kernel's limit of events.
            for _ in 0..1_000_000 {
                match reader.next() {
                    Ok(event) => {
                        let flags = event.events();
                        if flags.contains(ReadFlags::QUEUE_OVERFLOW) {
                            self.overflows += 1;
                            continue;
                        }
                        let ours = match event.file_name() {
                            Some(name) => name.to_bytes() == DB_NAME.as_bytes(),
                            // An event of the directory itself.
                            None => true,
                        };
                        if ours {
                            *self.changes.entry(event.wd()).or_insert(0) += 1;
                        }
                    }
                    Err(rustix::io::Errno::AGAIN) => return true,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return false,
                }
            }
            false
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_rename_over_the_database_is_seen_and_nothing_else_is() -> crate::Result<()> {
            let tmp = tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", e))?;
            let dir = tmp.path();
            let io = |e| crate::Error::io(dir, e);
            std::fs::write(dir.join(DB_NAME), b"old").map_err(io)?;
            let watch = Watch::new(dir);
            // The first call in a process cannot know: it says so.
            assert!(watch.may_have_changed());
            assert!(!watch.may_have_changed());
            // Other files come and go unnoticed.
            std::fs::write(dir.join("cache.db-wal"), b"").map_err(io)?;
            std::fs::create_dir(dir.join("ab")).map_err(io)?;
            assert!(!watch.may_have_changed());
            std::fs::write(dir.join("fresh"), b"new").map_err(io)?;
            std::fs::rename(dir.join("fresh"), dir.join(DB_NAME)).map_err(io)?;
            assert!(watch.may_have_changed());
            assert!(!watch.may_have_changed());
            std::fs::remove_file(dir.join(DB_NAME)).map_err(io)?;
            assert!(watch.may_have_changed());
            Ok(())
        }
    }
}
