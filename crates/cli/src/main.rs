//! `diskcache`: inspect, check and repair a cache directory.
//!
//! Works on any directory this library or python-diskcache 5.x made: a
//! `Cache`, `Deque` or `Index` (one `cache.db`), or a fanout cache (shard
//! folders `000/`, `001/`, …). Run `diskcache help` for the commands.
#![deny(unsafe_code)]

mod commands;
mod info;
mod show;
mod target;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The help text.
const USAGE: &str = "\
diskcache: inspect, check and repair a cache directory

usage: diskcache COMMAND DIR [ARGS]

commands:
  info DIR [--json]                entries, volume, limit, policy and hit
                                   statistics, per shard for a fanout cache;
                                   --json: as one JSON object
  check DIR [--fix]                verify the database, the count and size
                                   metadata and the value files; --fix
                                   repairs what it can
  keys DIR [--reverse] [--limit N] list keys in insertion order (each
                                   shard in turn for a fanout cache)
  get DIR KEY [--hex]              write a value to standard output: bytes
                                   and text as they are (--hex: bytes as
                                   hex), numbers and other values as JSON
  delete DIR KEY                   delete one entry
  expire DIR                       delete the expired entries
  cull DIR                         expire, then evict down to the size limit
  evict DIR TAG                    delete the entries carrying TAG
  clear DIR                        delete every entry
  limit DIR SIZE                   set the size limit (bytes, or with K, M
                                   or G; split over a fanout cache's
                                   shards); open handles take it up within
                                   a second

KEY and TAG are text unless prefixed: int:42, float:1.5, hex:00ff (bytes),
packed:HEX (MessagePack, as keys prints other key types), text:… (text that
starts like a prefix). keys prints keys in that form.

Exit status: 0 done; 1 check found problems it did not repair, or get or
delete found no such entry; 2 a usage error or a failure.";

/// Why a command did not finish with status 0.
#[derive(Debug)]
enum Failure {
    /// The command line is wrong.
    Usage(String),
    /// The cache or the system failed.
    Error(String),
    /// Standard output was closed (`diskcache keys DIR | head`): not a
    /// failure.
    Closed,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::BrokenPipe => Failure::Closed,
            _ => Failure::Error(format!("writing output: {e}")),
        }
    }
}

impl From<diskcache::Error> for Failure {
    fn from(e: diskcache::Error) -> Self {
        Failure::Error(e.to_string())
    }
}

/// A command line split up: the command, its directory, further words and
/// `--` options (with the value of `--limit`); which of them a command
/// takes is checked by [`commands`].
struct Args {
    command: String,
    dir: PathBuf,
    words: Vec<String>,
    flags: Vec<String>,
    limit: Option<u64>,
}

impl Args {
    fn parse(raw: Vec<String>) -> Result<Args, Failure> {
        let mut raw = raw.into_iter();
        let command = raw
            .next()
            .ok_or_else(|| Failure::Usage("no command".into()))?;
        let (mut words, mut flags, mut limit) = (Vec::new(), Vec::new(), None);
        let mut literal = false;
        while let Some(arg) = raw.next() {
            if literal || !arg.starts_with("--") {
                words.push(arg);
            } else if arg == "--" {
                literal = true;
            } else {
                if arg == "--limit" {
                    let value = raw.next().unwrap_or_default();
                    let n = value
                        .parse()
                        .map_err(|_| Failure::Usage(format!("--limit {value:?}: not a count")))?;
                    limit = Some(n);
                }
                flags.push(arg);
            }
        }
        if words.is_empty() {
            return Err(Failure::Usage(format!("{command}: no directory given")));
        }
        let dir = PathBuf::from(words.remove(0));
        Ok(Args {
            command,
            dir,
            words,
            flags,
            limit,
        })
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// Fails on any `--` option but `allowed`.
    fn only(&self, allowed: &[&str]) -> Result<(), Failure> {
        match self.flags.iter().find(|f| !allowed.contains(&f.as_str())) {
            None => Ok(()),
            Some(flag) => Err(Failure::Usage(format!(
                "{}: unknown option {flag}",
                self.command
            ))),
        }
    }

    /// The one further word the command takes (a key or a tag).
    fn word(&self, what: &str) -> Result<&str, Failure> {
        match self.words.as_slice() {
            [one] => Ok(one),
            [] => Err(Failure::Usage(format!("{}: no {what} given", self.command))),
            _ => Err(Failure::Usage(format!("{}: one {what} only", self.command))),
        }
    }

    fn no_words(&self) -> Result<(), Failure> {
        match self.words.first() {
            None => Ok(()),
            Some(extra) => Err(Failure::Usage(format!(
                "{}: unexpected {extra:?}",
                self.command
            ))),
        }
    }
}

fn run(raw: Vec<String>, out: &mut dyn Write) -> Result<ExitCode, Failure> {
    if matches!(
        raw.first().map(String::as_str),
        None | Some("help" | "-h" | "--help")
    ) {
        writeln!(out, "{USAGE}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let args = Args::parse(raw)?;
    commands::run(&args, out)
}

fn main() -> ExitCode {
    let raw: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let Ok(raw) = raw else {
        eprintln!("diskcache: arguments must be UTF-8");
        return ExitCode::from(2);
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = run(raw, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("diskcache: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Closed) => ExitCode::SUCCESS,
        Err(Failure::Error(message)) => {
            eprintln!("diskcache: {message}");
            ExitCode::from(2)
        }
    }
}
