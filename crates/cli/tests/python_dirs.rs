//! The command-line tool on directories python-diskcache 5.6 wrote: a
//! Cache (keys of every native type, a file-backed value, a pickled value
//! that is refused, not run) and a FanoutCache (no `fanout.cfg`).
//!
//! Needs `python3`; skipped with a message without it (see the facade's
//! `tests/interop`).

mod common;
#[path = "../../diskcache/tests/interop/mod.rs"]
mod interop;

use common::{TestResult, diskcache};
use interop::{python, run_python};

#[test]
fn a_python_cache_is_listed_read_and_checked() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    run_python(&py, "write", dir.path())?;

    let keys = diskcache("keys", dir.path(), &[])?;
    assert_eq!(keys.code, Some(0), "{}", keys.stderr);
    let keys = keys.text();
    for key in [
        "hex:62797465732d6b6579",
        "text-key",
        "int:42",
        "float:1.5",
        "int:-7",
    ] {
        assert!(keys.lines().any(|k| k == key), "{key} not in\n{keys}");
    }
    let text = diskcache("get", dir.path(), &["text-key"])?;
    assert_eq!(text.text(), "h\u{e9}llo w\u{f6}rld");
    assert_eq!(
        diskcache("get", dir.path(), &["int:42"])?.text(),
        "1234567890123\n"
    );
    assert_eq!(
        diskcache("get", dir.path(), &["float:1.5"])?.text(),
        "2.25\n"
    );
    let big = diskcache("get", dir.path(), &["big-bytes"])?;
    let expected: Vec<u8> = (0..=255u8).cycle().take(256 * 4096).collect();
    assert!(big.stdout == expected, "big-bytes differs");

    let pickled = diskcache("get", dir.path(), &["pickled"])?;
    assert_eq!(pickled.code, Some(2));
    assert!(pickled.stderr.contains("pickle"), "{}", pickled.stderr);
    assert!(pickled.stdout.is_empty());

    let check = diskcache("check", dir.path(), &[])?;
    assert_eq!((check.code, check.text()), (Some(0), "clean\n".to_owned()));
    Ok(())
}

#[test]
fn a_python_fanout_cache_is_found_shard_by_shard() -> TestResult {
    let Some(py) = python()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    run_python(&py, "fanout-write", dir.path())?;

    let info = diskcache("info", dir.path(), &[])?.text();
    assert!(
        info.contains("fanout cache of 4 shards (no fanout.cfg"),
        "{info}"
    );
    assert!(info.contains("entries     105"), "{info}");
    for i in [0, 57, 99] {
        let key = format!("k{i}");
        assert_eq!(
            diskcache("get", dir.path(), &[&key])?.text(),
            format!("{i}\n")
        );
    }
    assert!(!dir.path().join("fanout.cfg").exists());
    Ok(())
}
