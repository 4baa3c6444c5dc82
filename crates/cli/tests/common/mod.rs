//! Running the `diskcache` binary.

use std::path::Path;
use std::process::{Command, Output};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// What one run printed, and its exit status.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// Standard output as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `diskcache COMMAND DIR ARGS…`.
pub fn diskcache(command: &str, dir: &Path, args: &[&str]) -> std::io::Result<Run> {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_diskcache"))
        .arg(command)
        .arg(dir)
        .args(args)
        .output()?;
    Ok(Run {
        code: status.code(),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}
