//! `info`: what a directory holds, for people or (`--json`) for scripts.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use crate::Failure;
use crate::target::{Layout, Target};

/// One shard's line.
#[derive(Serialize)]
struct Shard {
    name: String,
    entries: u64,
    volume: u64,
}

/// Hits and misses, summed over the shards.
#[derive(Serialize)]
struct Hits {
    hits: u64,
    misses: u64,
}

/// Everything `info` reports; its JSON form is this, field by field.
#[derive(Serialize)]
struct Summary {
    directory: String,
    /// `"single"` or `"fanout"`.
    layout: &'static str,
    /// Whether `fanout.cfg` records the shard count (ours, not python's).
    fanout_cfg: bool,
    entries: u64,
    volume: u64,
    size_limit: u64,
    eviction_policy: &'static str,
    cull_limit: u64,
    /// `None` while statistics are off.
    statistics: Option<Hits>,
    named: Vec<String>,
    shards: Vec<Shard>,
}

fn summarize(target: &Target) -> Result<Summary, Failure> {
    let Some((_, first)) = target.shards.first() else {
        return Err(Failure::Error("no shards".into()));
    };
    let settings = first.settings();
    let (layout, fanout_cfg) = match target.layout {
        Layout::Single => ("single", false),
        Layout::Fanout { recorded } => ("fanout", recorded),
    };
    let mut summary = Summary {
        directory: target.dir.display().to_string(),
        layout,
        fanout_cfg,
        entries: 0,
        volume: 0,
        size_limit: 0,
        eviction_policy: settings.eviction_policy.as_str(),
        cull_limit: settings.cull_limit,
        statistics: settings.statistics.then_some(Hits { hits: 0, misses: 0 }),
        named: target.named.clone(),
        shards: Vec::with_capacity(target.shards.len()),
    };
    for (name, cache) in &target.shards {
        let shard = Shard {
            name: name.clone(),
            entries: cache.len()?,
            volume: cache.volume()?,
        };
        summary.entries += shard.entries;
        summary.volume += shard.volume;
        summary.size_limit = summary
            .size_limit
            .saturating_add(cache.settings().size_limit);
        if let Some(total) = &mut summary.statistics {
            let stats = cache.stats()?;
            total.hits += stats.hits;
            total.misses += stats.misses;
        }
        summary.shards.push(shard);
    }
    Ok(summary)
}

/// Prints what `target` holds.
pub(crate) fn print(target: &Target, json: bool, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let s = summarize(target)?;
    if json {
        let text = serde_json::to_string_pretty(&s).map_err(|e| Failure::Error(e.to_string()))?;
        writeln!(out, "{text}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "directory   {}", s.directory)?;
    let n = s.shards.len();
    let layout = match target.layout {
        Layout::Single => "one cache".to_owned(),
        Layout::Fanout { recorded: true } => format!("fanout cache of {n} shards"),
        Layout::Fanout { recorded: false } => {
            format!("fanout cache of {n} shards (no fanout.cfg: python-diskcache's)")
        }
    };
    writeln!(out, "layout      {layout}")?;
    writeln!(out, "entries     {}", s.entries)?;
    let share = 100.0 * s.volume as f64 / s.size_limit.max(1) as f64;
    let (volume, limit) = (size(s.volume), size(s.size_limit));
    writeln!(out, "volume      {volume} of a {limit} limit ({share:.1}%)")?;
    writeln!(
        out,
        "eviction    {}, at most {} per write",
        s.eviction_policy, s.cull_limit
    )?;
    match &s.statistics {
        Some(Hits { hits, misses }) => {
            let rate = 100.0 * *hits as f64 / (hits + misses).max(1) as f64;
            writeln!(
                out,
                "statistics  {hits} hits, {misses} misses ({rate:.1}% hits)"
            )?;
        }
        None => writeln!(out, "statistics  off")?,
    }
    if !s.named.is_empty() {
        writeln!(out, "named       {}", s.named.join(", "))?;
    }
    if n > 1 {
        writeln!(out, "shard     entries      volume")?;
        for shard in &s.shards {
            let (name, entries) = (&shard.name, shard.entries);
            writeln!(out, "{name:<5} {entries:>11} {:>11}", size(shard.volume))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A byte count for people.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(1 << 30), "1.0 GiB");
    }
}
