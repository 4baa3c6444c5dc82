//! The commands, each over every shard of the directory.

use std::io::Write;
use std::process::ExitCode;

use diskcache::{Cache, Problem};

use crate::show::{Shown, key_arg, parse_key, to_hex};
use crate::target::{Layout, Target};
use crate::{Args, Failure};

/// Runs the command `args` names.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let known = [
        "info", "check", "keys", "get", "delete", "expire", "cull", "evict", "clear",
    ];
    if !known.contains(&args.command.as_str()) {
        return Err(Failure::Usage(format!(
            "unknown command {:?}",
            args.command
        )));
    }
    // Check the rest of the command line before opening anything.
    let key = match args.command.as_str() {
        "get" | "delete" => Some(args.word("key")?),
        "evict" => Some(args.word("tag")?),
        _ => {
            args.no_words()?;
            None
        }
    };
    let key = key
        .map(|k| parse_key(k).map_err(|e| Failure::Usage(format!("{}: {e}", args.command))))
        .transpose()?;
    let target = Target::open(&args.dir).map_err(Failure::Error)?;
    let shards = target.shards.iter().map(|(_, c)| c);
    match (args.command.as_str(), key) {
        ("info", _) => info(&target, out),
        ("check", _) => check(&target, args.flag("--fix"), out),
        ("keys", _) => keys(&target, args.flag("--reverse"), args.limit, out),
        ("get", Some(key)) => get(&target, &key, args.flag("--hex"), out),
        ("delete", Some(key)) => {
            for cache in shards {
                if cache.delete(&key)? {
                    writeln!(out, "deleted {}", key_arg(&key))?;
                    return Ok(ExitCode::SUCCESS);
                }
            }
            not_found(&key)
        }
        ("expire", _) => total(shards, Cache::expire, "expired", out),
        ("cull", _) => total(shards, Cache::cull, "culled", out),
        ("evict", Some(tag)) => total(shards, |c| c.evict(tag.clone()), "evicted", out),
        _ => total(shards, Cache::clear, "cleared", out),
    }
}

fn not_found(key: &diskcache::Key) -> Result<ExitCode, Failure> {
    eprintln!("diskcache: no entry {}", key_arg(key));
    Ok(ExitCode::from(1))
}

/// Runs `op` on every shard and reports how many entries it removed.
fn total<'a>(
    shards: impl Iterator<Item = &'a Cache>,
    op: impl Fn(&Cache) -> diskcache::Result<u64>,
    done: &str,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let mut n = 0;
    for cache in shards {
        n += op(cache)?;
    }
    writeln!(out, "{done} {n} entries")?;
    Ok(ExitCode::SUCCESS)
}

fn info(target: &Target, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let (mut len, mut volume, mut limit, mut hits, mut misses) = (0, 0, 0u64, 0, 0);
    let mut rows = Vec::new();
    for (name, cache) in &target.shards {
        let (n, v) = (cache.len()?, cache.volume()?);
        let stats = cache.stats()?;
        len += n;
        volume += v;
        limit = limit.saturating_add(cache.settings().size_limit);
        hits += stats.hits;
        misses += stats.misses;
        rows.push((name, n, v));
    }
    let Some((_, first)) = target.shards.first() else {
        return Err(Failure::Error("no shards".into()));
    };
    let settings = first.settings();
    writeln!(out, "directory   {}", target.dir.display())?;
    let n = target.shards.len();
    let layout = match target.layout {
        Layout::Single => "one cache".to_owned(),
        Layout::Fanout { recorded: true } => format!("fanout cache of {n} shards"),
        Layout::Fanout { recorded: false } => {
            format!("fanout cache of {n} shards (no fanout.cfg: python-diskcache's)")
        }
    };
    writeln!(out, "layout      {layout}")?;
    writeln!(out, "entries     {len}")?;
    let share = 100.0 * volume as f64 / limit.max(1) as f64;
    writeln!(
        out,
        "volume      {} of a {} limit ({share:.1}%)",
        size(volume),
        size(limit)
    )?;
    writeln!(
        out,
        "eviction    {}, at most {} per write",
        settings.eviction_policy.as_str(),
        settings.cull_limit
    )?;
    if settings.statistics {
        let rate = 100.0 * hits as f64 / (hits + misses).max(1) as f64;
        writeln!(
            out,
            "statistics  {hits} hits, {misses} misses ({rate:.1}% hits)"
        )?;
    } else {
        writeln!(out, "statistics  off")?;
    }
    if !target.named.is_empty() {
        writeln!(out, "named       {}", target.named.join(", "))?;
    }
    if rows.len() > 1 {
        writeln!(out, "shard     entries      volume")?;
        for (name, n, v) in rows {
            writeln!(out, "{name:<5} {n:>11} {:>11}", size(v))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(target: &Target, fix: bool, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let (mut found, mut unfixable) = (0, 0);
    for (name, cache) in &target.shards {
        let report = cache.check(fix)?;
        for problem in &report.problems {
            found += 1;
            if matches!(problem, Problem::Integrity(_)) {
                unfixable += 1;
            }
            match name.as_str() {
                "." => writeln!(out, "{problem}")?,
                shard => writeln!(out, "{shard}: {problem}")?,
            }
        }
    }
    let clean = match (found, fix) {
        (0, _) => {
            writeln!(out, "clean")?;
            true
        }
        (n, false) => {
            writeln!(out, "{n} problems; run with --fix to repair")?;
            false
        }
        (n, true) => {
            writeln!(out, "{n} problems, {} repaired", n - unfixable)?;
            if unfixable > 0 {
                writeln!(out, "the database's own damage is not repairable here")?;
            }
            unfixable == 0
        }
    };
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn keys(
    target: &Target,
    reverse: bool,
    limit: Option<u64>,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    let mut left = limit.unwrap_or(u64::MAX);
    let mut shards: Vec<&Cache> = target.shards.iter().map(|(_, c)| c).collect();
    if reverse {
        shards.reverse();
    }
    for cache in shards {
        let keys = if reverse {
            cache.keys_rev()
        } else {
            cache.keys()
        };
        for key in keys {
            if left == 0 {
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(out, "{}", key_arg(&key?))?;
            left -= 1;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn get(
    target: &Target,
    key: &diskcache::Key,
    hex: bool,
    out: &mut dyn Write,
) -> Result<ExitCode, Failure> {
    for (_, cache) in &target.shards {
        match cache.read(key) {
            Ok(None) => continue,
            Ok(Some(bytes)) if hex => writeln!(out, "{}", to_hex(&bytes))?,
            Ok(Some(bytes)) => out.write_all(&bytes)?,
            // Numbers and MessagePack values: decode them.
            Err(diskcache::Error::TypeMismatch { .. }) => match cache.get::<Shown>(key)? {
                Some(shown) => writeln!(out, "{shown}")?,
                None => continue,
            },
            Err(e) => return Err(e.into()),
        }
        return Ok(ExitCode::SUCCESS);
    }
    not_found(key)
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
