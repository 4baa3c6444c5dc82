//! Counters that workers increment and read: what a worker saw and added,
//! and the checks on both sides of the run.

use std::collections::HashMap;

use crate::Res;
use crate::target::Target;

/// One worker's view of the counters.
#[derive(Default)]
pub struct Counters {
    /// The highest value of each counter this worker has seen.
    seen: HashMap<String, i64>,
    /// How many increments of each counter this worker made.
    added: HashMap<String, u64>,
}

impl Counters {
    /// A read of `name` gave `got`: it may not be lower than any value
    /// seen before. Returns the violation, if any.
    pub fn read(&mut self, name: &str, got: i64) -> Option<String> {
        let before = self.seen.entry(name.to_string()).or_default();
        let bad = (got < *before).then(|| format!("counter {name} read {got} after {before}"));
        *before = got.max(*before);
        bad
    }

    /// An increment of `name` gave `now`: it must be above any value seen
    /// before. Returns the violation, if any.
    pub fn incremented(&mut self, name: &str, now: i64) -> Option<String> {
        *self.added.entry(name.to_string()).or_default() += 1;
        let before = self.seen.entry(name.to_string()).or_default();
        let bad = (now <= *before).then(|| format!("counter {name} became {now} after {before}"));
        *before = now.max(*before);
        bad
    }

    /// The worker's output lines for what it added (`incr NAME N`).
    pub fn report(&self) -> String {
        self.added
            .iter()
            .map(|(name, n)| format!("incr {name} {n}\n"))
            .collect()
    }
}

/// Adds a worker's `incr NAME N` line to `totals`; false for another line.
pub fn tally(line: &str, totals: &mut HashMap<String, u64>) -> Res<bool> {
    let parts: Vec<&str> = line.split(' ').collect();
    if let ["incr", name, n] = parts.as_slice() {
        *totals.entry((*name).to_string()).or_default() += n.parse::<u64>()?;
        return Ok(true);
    }
    Ok(false)
}

/// The counters in `target` that differ from the workers' totals.
pub fn check(target: &Target, totals: &HashMap<String, u64>) -> Res<Vec<String>> {
    let mut violations = Vec::new();
    for (name, expected) in totals {
        let got = target.counter(name)?;
        if u64::try_from(got).ok() != Some(*expected) {
            violations.push(format!("counter {name} is {got}, workers added {expected}"));
        }
    }
    Ok(violations)
}
