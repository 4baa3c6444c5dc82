//! The commands, each over every shard of the directory.

use std::io::Write;
use std::process::ExitCode;

use diskcache::{Cache, Key, Problem};

use crate::show::{Shown, key_arg, parse_key, to_hex};
use crate::target::Target;
use crate::{Args, Failure};

/// A command with its arguments checked, before anything is opened.
enum Action {
    Info { json: bool },
    Check { fix: bool },
    Keys { reverse: bool, limit: Option<u64> },
    Get { key: Key, hex: bool },
    Delete(Key),
    Expire,
    Cull,
    Evict(Key),
    Clear,
    Limit(u64),
}

impl Action {
    fn from_args(args: &Args) -> Result<Action, Failure> {
        // The one further word a command takes, as a key (or tag).
        let key = |what: &str, options: &[&str]| -> Result<Key, Failure> {
            args.only(options)?;
            parse_key(args.word(what)?)
                .map_err(|e| Failure::Usage(format!("{}: {e}", args.command)))
        };
        // A command that takes no further word, and only `options`.
        let bare = |options: &[&str], action: Action| -> Result<Action, Failure> {
            args.only(options)?;
            args.no_words()?;
            Ok(action)
        };
        match args.command.as_str() {
            "info" => bare(
                &["--json"],
                Action::Info {
                    json: args.flag("--json"),
                },
            ),
            "check" => bare(
                &["--fix"],
                Action::Check {
                    fix: args.flag("--fix"),
                },
            ),
            "keys" => bare(
                &["--reverse", "--limit"],
                Action::Keys {
                    reverse: args.flag("--reverse"),
                    limit: args.limit,
                },
            ),
            "get" => Ok(Action::Get {
                key: key("key", &["--hex"])?,
                hex: args.flag("--hex"),
            }),
            "delete" => Ok(Action::Delete(key("key", &[])?)),
            "expire" => bare(&[], Action::Expire),
            "cull" => bare(&[], Action::Cull),
            "evict" => Ok(Action::Evict(key("tag", &[])?)),
            "clear" => bare(&[], Action::Clear),
            "limit" => {
                args.only(&[])?;
                let size = args.word("size")?;
                parse_size(size)
                    .map(Action::Limit)
                    .ok_or_else(|| Failure::Usage(format!("limit: {size:?} is not a size")))
            }
            other => Err(Failure::Usage(format!("unknown command {other:?}"))),
        }
    }
}

/// Runs the command `args` names.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let action = Action::from_args(args)?;
    let repair = matches!(action, Action::Check { fix: true });
    let target = Target::open(&args.dir, repair).map_err(Failure::Error)?;
    let shards = target.shards.iter().map(|(_, c)| c);
    match action {
        Action::Info { json } => crate::info::print(&target, json, out),
        Action::Check { fix } => check(&target, fix, out),
        Action::Keys { reverse, limit } => keys(&target, reverse, limit, out),
        Action::Get { key, hex } => get(&target, &key, hex, out),
        Action::Delete(key) => {
            for cache in shards {
                if cache.delete(&key)? {
                    writeln!(out, "deleted {}", key_arg(&key))?;
                    return Ok(ExitCode::SUCCESS);
                }
            }
            not_found(&key)
        }
        Action::Expire => total(shards, Cache::expire, "expired", out),
        Action::Cull => total(shards, Cache::cull, "culled", out),
        Action::Evict(tag) => total(shards, |c| c.evict(tag.clone()), "evicted", out),
        Action::Clear => total(shards, Cache::clear, "cleared", out),
        Action::Limit(bytes) => limit(&target, bytes, out),
    }
}

/// A size in bytes: digits, optionally followed by `K`, `M` or `G` (powers
/// of 1024, with or without `iB`, in either case).
fn parse_size(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &lower[digits.len()..] {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// Sets the size limit of the whole directory, split evenly over its
/// shards as a fanout cache splits it.
fn limit(target: &Target, bytes: u64, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    let count = target.shards.len().max(1) as u64;
    let share = bytes / count;
    for (_, cache) in &target.shards {
        cache.set_size_limit(share)?;
    }
    if count == 1 {
        writeln!(out, "size limit {bytes} bytes")?;
    } else {
        writeln!(
            out,
            "size limit {bytes} bytes: {share} in each of {count} shards"
        )?;
    }
    writeln!(
        out,
        "open handles use it from their next call a second on; `diskcache cull` applies it now"
    )?;
    Ok(ExitCode::SUCCESS)
}

fn not_found(key: &Key) -> Result<ExitCode, Failure> {
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

fn check(target: &Target, fix: bool, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    // One line a problem, after the shard's folder name in a fanout cache.
    let mut report = |shard: &str, problem: &dyn std::fmt::Display| match shard {
        "." => writeln!(out, "{problem}"),
        shard => writeln!(out, "{shard}: {problem}"),
    };
    let (mut found, mut unfixable) = (0, 0);
    for (name, repair) in &target.repaired {
        found += 1;
        report(name, repair)?;
    }
    for (name, cache) in &target.shards {
        let checked = cache.check(fix)?;
        // With --fix, damage inside cache.db is repaired (by VACUUM, or by
        // recovering its rows into a new database), or the check fails.
        let database_repaired = checked.database.is_some();
        for problem in &checked.problems {
            found += 1;
            if matches!(problem, Problem::Integrity(_)) && !database_repaired {
                unfixable += 1;
            }
            report(name, problem)?;
        }
        if let Some(repair) = &checked.database {
            report(name, &format!("cache.db: {repair}"))?;
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

fn get(target: &Target, key: &Key, hex: bool, out: &mut dyn Write) -> Result<ExitCode, Failure> {
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

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("8k"), Some(8 << 10));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999G"), None);
    }
}
