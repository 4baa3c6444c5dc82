//! The recipes' cross-process claims, with real OS processes.

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use diskcache::FanoutCache;

const HELPER: &str = env!("CARGO_BIN_EXE_diskcache-test-helper");

fn run_all(args: &[Vec<String>]) -> Result<Vec<Output>, Box<dyn std::error::Error>> {
    let children: Vec<_> = args
        .iter()
        .map(|a| {
            Command::new(HELPER)
                .args(a)
                .stdout(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut outputs = Vec::new();
    for child in children {
        let out = child.wait_with_output()?;
        assert!(
            out.status.success(),
            "helper failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(out);
    }
    Ok(outputs)
}

fn numbers(out: &Output) -> Result<Vec<u128>, Box<dyn std::error::Error>> {
    Ok(String::from_utf8(out.stdout.clone())?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?)
}

#[test]
fn two_processes_never_hold_the_lock_at_once() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    let args = vec![vec!["lock".into(), path.clone(), "60".into()]; 2];
    let outputs = run_all(&args)?;
    let mut holds: Vec<(u128, u128)> = Vec::new();
    for out in &outputs {
        let n = numbers(out)?;
        holds.extend(n.chunks(2).map(|c| (c[0], c[1])));
    }
    assert_eq!(holds.len(), 120);
    holds.sort();
    for pair in holds.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "holds overlap: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
    Ok(())
}

#[test]
fn a_throttle_holds_its_rate_across_processes() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    let args = vec![vec!["throttle".into(), path.clone(), "3.5".into()]; 2];
    let outputs = run_all(&args)?;
    let mut calls: Vec<u128> = Vec::new();
    for out in &outputs {
        calls.extend(numbers(out)?);
    }
    calls.sort();
    let first = *calls.first().ok_or("no calls")?;
    // Past the first second (the initial burst of 10), count two seconds.
    let window = calls
        .iter()
        .filter(|&&t| t >= first + 1_000_000 && t < first + 3_000_000)
        .count();
    let per_second = window as f64 / 2.0;
    eprintln!(
        "throttle: {} calls in all, {per_second} per second in the steady window",
        calls.len()
    );
    assert!(
        (9.0..=11.0).contains(&per_second),
        "{per_second} calls per second, wanted 10 ± 1"
    );
    Ok(())
}

#[test]
fn a_cold_key_hit_by_four_processes_is_computed_once() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    drop(FanoutCache::open(&path)?);
    let start = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() + 400;
    let args = vec![vec!["stampede".into(), path.clone(), start.to_string()]; 4];
    let outputs = run_all(&args)?;
    for out in &outputs {
        assert_eq!(numbers(out)?, vec![42]);
    }
    let cache = FanoutCache::open(&path)?;
    let computations = cache.get::<i64>("computations")?.unwrap_or(0);
    assert_eq!(
        computations, 1,
        "the cold key was computed {computations} times"
    );
    Ok(())
}
