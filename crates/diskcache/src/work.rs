//! [`WorkQueue`]: jobs that are not lost when a consumer dies.
//!
//! A [`Deque`](crate::Deque) hands an item over when it is popped: a
//! consumer killed between the pop and the end of its work loses that
//! item. A work queue leases a job instead. [`reserve`](WorkQueue::reserve)
//! takes the first ready job and leases it for a while (a visibility
//! timeout); [`ack`](WorkQueue::ack) removes it for good; a lease that runs
//! out (its consumer died, or is late) puts the job back at the front of
//! the queue for the next `reserve`, in this process or any other.
//!
//! Each lease has a token: `ack`, [`nack`](WorkQueue::nack) and
//! [`extend`](WorkQueue::extend) answer `false` for a lease that is no
//! longer the job's (it ran out and the job was reserved again), so a late
//! consumer never completes a job twice. To make a job's result and its
//! completion one atomic step, record the result and call `ack` inside one
//! [`Cache::transact`] and roll back when `ack` answers `false`: then every
//! job's result is committed exactly once, however consumers are killed.
//!
//! Everything lives in one cache directory under keys that start with the
//! queue's name: the ready queue (`<name>-ready`), the leases in the order
//! they were taken (`<name>-leased`), and per job its payload and current
//! lease.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Cache, Error, Result, Side};

/// Leases looked at, from the oldest, by each `reserve` for ones that ran
/// out.
const REAP: u64 = 32;

/// A persistent queue of jobs, leased to consumers until acknowledged.
///
/// ```
/// use std::time::Duration;
/// use diskcache::{Cache, WorkQueue};
///
/// let cache = Cache::builder().open_temp()?;
/// let queue: WorkQueue<String> = WorkQueue::new(cache, "emails");
/// queue.push(&"welcome ada".to_string())?;
/// let job = queue.reserve(Duration::from_secs(30))?.expect("a job");
/// assert_eq!(job.payload, "welcome ada");
/// // … send it …
/// assert!(queue.ack(&job)?);
/// assert!(queue.reserve(Duration::from_secs(30))?.is_none());
/// # Ok::<(), diskcache::Error>(())
/// ```
pub struct WorkQueue<T> {
    cache: Cache,
    name: String,
    _payload: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        WorkQueue {
            cache: self.cache.clone(),
            name: self.name.clone(),
            _payload: std::marker::PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for WorkQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkQueue")
            .field("name", &self.name)
            .field("directory", &self.cache.directory())
            .finish()
    }
}

/// A job as [`WorkQueue::reserve`] hands it out, with its lease.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Job<T> {
    /// The job's number in its queue, from 1.
    pub id: u64,
    /// What was pushed.
    pub payload: T,
    /// How many times the job has been reserved, this time included (more
    /// than 1 after a lease ran out or a `nack`).
    pub attempt: u64,
    /// This lease's token (see [`WorkQueue::ack`]).
    pub lease: u64,
    /// When this lease runs out.
    pub deadline: SystemTime,
}

/// A lease as the leased queue records it.
#[derive(Serialize, Deserialize)]
struct Lease {
    id: u64,
    token: u64,
    deadline: f64,
}

/// The current lease of a job.
#[derive(Serialize, Deserialize)]
struct Held {
    token: u64,
    deadline: f64,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn to_time(secs: f64) -> SystemTime {
    Duration::try_from_secs_f64(secs)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .unwrap_or(UNIX_EPOCH)
}

impl<T: Serialize + DeserializeOwned + 'static> WorkQueue<T> {
    /// The work queue `name` in `cache` (made on first use). Several queues
    /// may share a cache under different names.
    pub fn new(cache: Cache, name: &str) -> Self {
        WorkQueue {
            cache,
            name: name.to_owned(),
            _payload: std::marker::PhantomData,
        }
    }

    /// The cache the queue lives in (for [`Cache::transact`] around a
    /// job's result and its [`ack`](Self::ack)).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn key(&self, what: &str, id: u64) -> String {
        format!("{}/{what}/{id}", self.name)
    }

    fn ready(&self) -> String {
        format!("{}-ready", self.name)
    }

    fn leased(&self) -> String {
        format!("{}-leased", self.name)
    }

    /// Adds a job at the back; returns its id.
    pub fn push(&self, payload: &T) -> Result<u64> {
        self.cache.transact(|| {
            let id = self
                .cache
                .incr(&format!("{}/next", self.name), 1, Some(0))?;
            let id = u64::try_from(id).map_err(|_| Error::Overflow)?;
            self.cache.set(&self.key("job", id), payload)?;
            self.cache.push(&id, Some(&self.ready()), Side::Back)?;
            Ok(id)
        })
    }

    /// Takes the first ready job and leases it for `lease`; `None` when no
    /// job is ready. Leases that ran out are put back first.
    pub fn reserve(&self, lease: Duration) -> Result<Option<Job<T>>> {
        self.cache.transact(|| {
            let now = now();
            self.reap(now)?;
            let Some((_, id)) = self.cache.pull::<u64>(Some(&self.ready()), Side::Front)? else {
                return Ok(None);
            };
            let Some(payload) = self.cache.get::<T>(&self.key("job", id))? else {
                // Acknowledged while queued again: nothing left to do.
                return Ok(None);
            };
            let attempt = self.cache.get::<u64>(&self.key("tries", id))?.unwrap_or(0) + 1;
            self.cache.set(&self.key("tries", id), &attempt)?;
            let token = self
                .cache
                .incr(&format!("{}/next-lease", self.name), 1, Some(0))?;
            let token = u64::try_from(token).map_err(|_| Error::Overflow)?;
            let deadline = now + lease.as_secs_f64();
            self.cache
                .set(&self.key("lease", id), &Held { token, deadline })?;
            self.cache.push(
                &Lease {
                    id,
                    token,
                    deadline,
                },
                Some(&self.leased()),
                Side::Back,
            )?;
            Ok(Some(Job {
                id,
                payload,
                attempt,
                lease: token,
                deadline: to_time(deadline),
            }))
        })
    }

    /// [`reserve`](Self::reserve), waiting up to `wait` for a job to be
    /// ready (or a lease to run out), polling with a growing pause (1 ms
    /// up to 50 ms).
    pub fn reserve_wait(&self, lease: Duration, wait: Duration) -> Result<Option<Job<T>>> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(job) = self.reserve(lease)? {
                return Ok(Some(job));
            }
            let left = wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Puts back the jobs whose leases ran out, looking at up to [`REAP`]
    /// of the oldest leases; drops the records of leases that ended.
    fn reap(&self, now: f64) -> Result<()> {
        let leased = self.leased();
        let mut index = 0;
        for _ in 0..REAP {
            let Some((key, lease)) =
                self.cache
                    .queue_get::<Lease>(Some(&leased), Side::Front, index)?
            else {
                return Ok(());
            };
            let held = self.cache.get::<Held>(&self.key("lease", lease.id))?;
            match held {
                // Still the job's lease.
                Some(h) if h.token == lease.token => {
                    if h.deadline > now {
                        index += 1;
                        continue;
                    }
                    self.requeue(lease.id)?;
                }
                // Acknowledged, given back, extended or leased again.
                _ => {}
            }
            self.cache.delete(&key)?;
        }
        Ok(())
    }

    /// Ends the lease of job `id` and puts it at the front of the queue.
    fn requeue(&self, id: u64) -> Result<()> {
        self.cache.delete(&self.key("lease", id))?;
        self.cache.push(&id, Some(&self.ready()), Side::Front)?;
        Ok(())
    }

    /// Whether `job`'s lease is still the job's current one.
    fn holds(&self, job: &Job<T>) -> Result<Option<Held>> {
        Ok(self
            .cache
            .get::<Held>(&self.key("lease", job.id))?
            .filter(|h| h.token == job.lease))
    }

    /// Completes `job`: removes it for good. `false` when its lease is no
    /// longer the job's (it ran out and the job may be with another
    /// consumer): then nothing changed.
    pub fn ack(&self, job: &Job<T>) -> Result<bool> {
        self.cache.transact(|| {
            if self.holds(job)?.is_none() {
                return Ok(false);
            }
            for what in ["lease", "job", "tries"] {
                self.cache.delete(&self.key(what, job.id))?;
            }
            Ok(true)
        })
    }

    /// Gives `job` back: it goes to the front of the queue at once. `false`
    /// when its lease is no longer the job's.
    pub fn nack(&self, job: &Job<T>) -> Result<bool> {
        self.cache.transact(|| match self.holds(job)? {
            None => Ok(false),
            Some(_) => {
                self.requeue(job.id)?;
                Ok(true)
            }
        })
    }

    /// Extends `job`'s lease to `lease` from now (a consumer that needs
    /// longer); `false` when its lease is no longer the job's.
    pub fn extend(&self, job: &mut Job<T>, lease: Duration) -> Result<bool> {
        self.cache.transact(|| {
            let Some(held) = self.holds(job)? else {
                return Ok(false);
            };
            let deadline = now() + lease.as_secs_f64();
            self.cache
                .set(&self.key("lease", job.id), &Held { deadline, ..held })?;
            // The lease keeps its token; its record moves to the back.
            self.cache.push(
                &Lease {
                    id: job.id,
                    token: job.lease,
                    deadline,
                },
                Some(&self.leased()),
                Side::Back,
            )?;
            job.deadline = to_time(deadline);
            Ok(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> Result<WorkQueue<String>> {
        Ok(WorkQueue::new(Cache::builder().open_temp()?, "q"))
    }

    #[test]
    fn jobs_come_out_in_order_and_an_ack_removes_them() -> Result<()> {
        let q = queue()?;
        for s in ["a", "b", "c"] {
            q.push(&s.to_string())?;
        }
        let lease = Duration::from_secs(60);
        let a = q.reserve(lease)?.ok_or(Error::NotFound)?;
        let b = q.reserve(lease)?.ok_or(Error::NotFound)?;
        assert_eq!((a.payload.as_str(), b.payload.as_str()), ("a", "b"));
        assert_eq!((a.id, a.attempt), (1, 1));
        assert!(q.ack(&a)?);
        assert!(!q.ack(&a)?, "acknowledged twice");
        // b given back goes first.
        assert!(q.nack(&b)?);
        let again = q.reserve(lease)?.ok_or(Error::NotFound)?;
        assert_eq!((again.payload.as_str(), again.attempt), ("b", 2));
        assert_ne!(again.lease, b.lease);
        assert!(!q.ack(&b)?, "an old lease completed the job");
        assert!(q.ack(&again)?);
        let c = q.reserve(lease)?.ok_or(Error::NotFound)?;
        assert!(q.ack(&c)?);
        assert!(q.reserve(lease)?.is_none());
        Ok(())
    }

    #[test]
    fn a_lease_that_runs_out_puts_the_job_back_and_voids_the_late_ack() -> Result<()> {
        let q = queue()?;
        q.push(&"slow".to_string())?;
        let first = q
            .reserve(Duration::from_millis(30))?
            .ok_or(Error::NotFound)?;
        assert!(q.reserve(Duration::from_secs(60))?.is_none());
        std::thread::sleep(Duration::from_millis(50));
        let second = q.reserve(Duration::from_secs(60))?.ok_or(Error::NotFound)?;
        assert_eq!((second.id, second.attempt), (first.id, 2));
        assert!(!q.ack(&first)?, "the late consumer completed the job");
        assert!(q.ack(&second)?);
        assert!(q.reserve(Duration::from_secs(60))?.is_none());
        Ok(())
    }

    #[test]
    fn an_extended_lease_does_not_run_out() -> Result<()> {
        let q = queue()?;
        q.push(&"long".to_string())?;
        let mut job = q
            .reserve(Duration::from_millis(30))?
            .ok_or(Error::NotFound)?;
        assert!(q.extend(&mut job, Duration::from_secs(60))?);
        std::thread::sleep(Duration::from_millis(50));
        assert!(q.reserve(Duration::from_secs(60))?.is_none());
        assert!(q.ack(&job)?);
        Ok(())
    }

    #[test]
    fn reserve_wait_waits_for_a_job_and_gives_up_in_time() -> Result<()> {
        let q = queue()?;
        let started = Instant::now();
        assert!(
            q.reserve_wait(Duration::from_secs(1), Duration::from_millis(40))?
                .is_none()
        );
        assert!(started.elapsed() >= Duration::from_millis(40));
        let pusher = q.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            pusher.push(&"late".to_string())
        });
        let job = q.reserve_wait(Duration::from_secs(1), Duration::from_secs(5))?;
        t.join().map_err(|_| Error::NotFound)??;
        assert_eq!(job.map(|j| j.payload).as_deref(), Some("late"));
        Ok(())
    }
}
