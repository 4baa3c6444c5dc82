//! The commands, each over every shard of the directory.

use std::io::Write;
use std::process::ExitCode;

use diskcache::{Cache, Problem};

use crate::show::{Shown, key_arg, parse_key, to_hex};
use crate::target::Target;
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
        ("info", _) => crate::info::print(&target, args.flag("--json"), out),
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
        ("clear", _) => total(shards, Cache::clear, "cleared", out),
        // Never reached: every known command is matched above.
        _ => Err(Failure::Usage(format!(
            "unknown command {:?}",
            args.command
        ))),
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
