//! Recipes on a [`Cache`](crate::Cache) or a [`FanoutCache`](crate::FanoutCache),
//! working across threads and processes (on anything that implements
//! [`DiskCache`](crate::DiskCache)): memoization (with stampede
//! protection), locks, a bounded semaphore, a running average, a throttle and
//! a barrier. The tutorial (`docs/tutorial.md`, the [`tutorial`](crate::tutorial) module) shows them at work.

mod locks;
mod memo;
mod misc;

pub use locks::{
    BoundedSemaphore, Guard, Hold, Lock, LockGuard, RLock, RLockGuard, SemaphoreGuard,
};
pub use memo::{Memo, Stampede, get_or_insert_with};
pub use misc::{Averager, Throttle, barrier};
