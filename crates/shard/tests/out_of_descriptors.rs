//! Out of file descriptors: threads that need a new connection fail at
//! once with an I/O error that carries the OS error and the path, instead
//! of waiting out a timeout; the threads that get a connection work.

use std::process::Command;

const HELPER: &str = env!("CARGO_BIN_EXE_shard-test-helper");

#[test]
fn a_process_out_of_descriptors_fails_promptly_and_says_why()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?;
    let out = Command::new(HELPER)
        .args(["fd-limit", path, "16"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 16, "{stdout}");
    let mut ok = 0;
    for line in &lines {
        let mut words = line.splitn(4, ' ');
        let (kind, _, millis) = (words.next(), words.next(), words.next());
        let millis: u64 = millis.ok_or("no time")?.parse()?;
        // The handle's timeout is a minute; a failure must not wait for it.
        assert!(millis < 5_000, "{line}");
        match kind {
            Some("ok") => ok += 1,
            _ => {
                let error = words.next().unwrap_or_default();
                assert!(error.contains("cache.db"), "no path in: {line}");
                assert!(
                    error.contains("Too many open files") || error.contains("os error 24"),
                    "no OS error in: {line}"
                );
            }
        }
    }
    assert!(ok >= 1, "no thread got a connection: {stdout}");
    assert!(ok < 16, "the limit was never reached: {stdout}");
    Ok(())
}
