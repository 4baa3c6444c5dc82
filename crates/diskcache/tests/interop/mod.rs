//! The python-diskcache 5.6 that interop tests run: a virtual environment
//! in Cargo's target directory, made on first use, and the script
//! `interop.py` that writes and reads directories with it. Shared by the
//! facade's interop test and the command-line tool's.

use std::path::{Path, PathBuf};
use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The script, by command: `write DIR`, `read DIR`, `fanout-write DIR`, …
/// (the path holds from any crate under `crates/`).
pub const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../diskcache/tests/interop/interop.py"
);

/// The venv's python with diskcache 5.6 installed, or None without python3.
pub fn python() -> Result<Option<PathBuf>, Box<dyn std::error::Error>> {
    python_with(
        "pyvenv-diskcache",
        "diskcache>=5.6,<5.7",
        "diskcache",
        "5.6",
    )
}

/// The python of a venv in Cargo's target directory named `venv` with
/// `pip_spec` installed (made on first use), checked by importing `module`
/// and finding its version to start with `version`; None without python3.
#[allow(dead_code)]
pub fn python_with(
    venv: &str,
    pip_spec: &str,
    module: &str,
    version: &str,
) -> Result<Option<PathBuf>, Box<dyn std::error::Error>> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED: python3 is not installed, so the python-diskcache interop test cannot run"
        );
        return Ok(None);
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(venv);
    let py = venv.join("bin").join("python");
    let check = format!("import {module}; assert {module}.__version__.startswith('{version}')");
    let ready = Command::new(&py)
        .args(["-c", &check])
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        // Tests may run in parallel processes: build the environment under a
        // private name, then rename it into place; whoever loses the race
        // uses the winner's.
        let building = venv.with_extension(format!("building-{}", std::process::id()));
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&building)
            .status()?;
        assert!(made.success(), "python3 -m venv failed");
        let pip = Command::new(building.join("bin").join("python"))
            .args(["-m", "pip", "install", "--quiet", pip_spec])
            .status()?;
        assert!(pip.success(), "pip install {pip_spec} failed");
        if std::fs::rename(&building, &venv).is_err() {
            std::fs::remove_dir_all(&building)?;
        }
    }
    Ok(Some(py))
}

/// Runs `interop.py MODE DIR`; fails the test if it fails.
pub fn run_python(py: &Path, mode: &str, dir: &Path) -> TestResult {
    let out = Command::new(py).arg(SCRIPT).arg(mode).arg(dir).output()?;
    assert!(
        out.status.success(),
        "python {mode} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
