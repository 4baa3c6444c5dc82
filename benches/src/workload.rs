//! The workload python-diskcache publishes, side by side: each worker
//! process runs the same operations (ten gets per set, ten sets per delete,
//! short keys and values, about 1% of gets missing) against each system,
//! in 1 and in several processes at once.
//!
//! ```text
//! workload [--quick] [--procs N] [--out DIR] [SYSTEM...]
//! ```
//!
//! Systems: shard, fanout4, fanout8, floor (raw SQLite), py-cache and
//! py-fanout4 (python-diskcache 5.6 in a virtual environment this harness
//! makes under target/), memcached and redis (servers the harness starts
//! on 127.0.0.1 from Debian's `memcached` and `redis-server` packages,
//! driven from Python by pymemcache and redis-py, as python-diskcache's
//! published figures drive them from Python), and memcached-rs and
//! redis-rs (the same servers driven by this crate's own Rust client, the
//! servers' best showing: no Python between the timer and the socket).
//! A cache system may end in
//! `-nomemo` (its read memo off; see `CacheBuilder::memo_bytes`) and then in
//! `@BYTES`, the SQLite page size of its new cache (`shard@1024`; see
//! `CacheBuilder::sqlite_page_size`). Results go to
//! `DIR/results.json` (default `results/`), and with the `charts` feature
//! a chart per action and process count, `DIR/<action>-<N>proc.png`:
//! latency at each percentile, one line per system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use diskcache_bench::servers::Kind;
use diskcache_bench::{Res, Rng, System, quantile_us};

const KEYS: u64 = 1000;
const REPLAY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/replay.py");
const ALL: [&str; 10] = [
    "shard",
    "fanout4",
    "fanout8",
    "floor",
    "py-cache",
    "py-fanout4",
    "memcached",
    "redis",
    "memcached-rs",
    "redis-rs",
];

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The operations of one worker, one per line: `g KEY`, `s KEY VALUE`, `d KEY`.
///
/// Keys `0..KEYS` are stored before the run and never deleted; sets also
/// churn through a further 10% of keys, and deletes act only on those. Gets
/// reach 1% past the stored keys, into the churn, so about 1% of them miss.
fn ops_text(seed: u64, count: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::new();
    let churn = KEYS / 10;
    for i in 0..count {
        match rng.below(111) {
            0..100 => out.push_str(&format!("g key-{:06}\n", rng.below(KEYS * 101 / 100))),
            100..110 => {
                let k = rng.below(KEYS + churn);
                out.push_str(&format!("s key-{k:06} value-{seed}-{i:012}\n"));
            }
            _ => out.push_str(&format!("d key-{:06}\n", KEYS + rng.below(churn))),
        }
    }
    out
}

/// Runs one operation on `sys`; whether it missed.
fn run(sys: &System, action: &str, key: &[u8], value: &[u8]) -> Res<bool> {
    Ok(match action {
        "g" => sys.get(key)?.is_none(),
        "s" => !sys.set(key, value)?,
        _ => !sys.delete(key)?,
    })
}

/// The file where a worker replaying `ops` records how many operations it
/// has done (written 20 times a run, between operations).
fn progress_file(ops: &Path) -> PathBuf {
    ops.with_extension("done")
}

/// A worker: replays the ops file from the start instant and prints
/// `ACTION MISSED NANOS` per operation.
fn worker(kind: &str, dir: &str, ops: &str, start: u128) -> Res<()> {
    let sys = System::open(kind, Path::new(dir))?;
    let text = std::fs::read_to_string(ops)?;
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    let progress = progress_file(Path::new(ops));
    let step = (lines.len() / 20).max(1);
    while now_ms() < start {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    let mut out = String::with_capacity(lines.len() * 16);
    for (i, parts) in lines.iter().enumerate() {
        let (action, key) = (parts[0], parts[1].as_bytes());
        let value = parts.get(2).map_or(&b""[..], |v| v.as_bytes());
        let t = Instant::now();
        let missed = run(&sys, action, key, value)?;
        out.push_str(&format!(
            "{action} {} {}\n",
            u8::from(missed),
            t.elapsed().as_nanos()
        ));
        if (i + 1) % step == 0 {
            std::fs::write(&progress, (i + 1).to_string())?;
        }
    }
    print!("{out}");
    Ok(())
}

/// Waits for the workers, showing their progress on stderr: one line
/// rewritten in place on a terminal, otherwise a line every 10 seconds.
/// Returns each worker's output.
fn wait_showing_progress(
    label: &str,
    children: Vec<std::process::Child>,
    progress: &[PathBuf],
    total: u64,
) -> Res<Vec<std::process::Output>> {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stderr().is_terminal();
    let began = Instant::now();
    let outputs = std::thread::scope(|scope| {
        let waits: Vec<_> = children
            .into_iter()
            .map(|child| scope.spawn(move || child.wait_with_output()))
            .collect();
        // On a terminal twice a second, otherwise every 10 seconds.
        let every = if tty { 500 } else { 10_000 };
        let mut shown = 0;
        while !waits.iter().all(|w| w.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let ms = began.elapsed().as_millis();
            if ms < shown + every {
                continue;
            }
            shown = ms;
            let secs = ms / 1000;
            let done: u64 = progress
                .iter()
                .filter_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok())
                .sum();
            let line = format!(
                "  {label}: {:>3}% of {total} operations, {secs} s",
                done * 100 / total.max(1)
            );
            if tty {
                eprint!("\r{line}");
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("{line}");
            }
        }
        if tty {
            eprint!("\r\x1b[K");
        }
        waits
            .into_iter()
            .map(|w| match w.join() {
                Ok(out) => Ok(out?),
                Err(_) => Err("a waiting thread panicked".into()),
            })
            .collect::<Res<Vec<_>>>()
    })?;
    Ok(outputs)
}

/// The venv python with diskcache 5.6, pymemcache and redis-py, made on
/// first use.
fn python() -> Res<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pyvenv-bench");
    let py = venv.join("bin/python");
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", "import diskcache, pymemcache, redis"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&py) {
        return Ok(py);
    }
    eprintln!("making a Python virtual environment in {}", venv.display());
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        return Err("python3 with venv is needed for the Python-driven systems (apt-get install python3-venv)".into());
    }
    let pip = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "diskcache==5.6.3",
            "pymemcache",
            "redis",
        ])
        .status()?;
    if !pip.success() || !ready(&py) {
        return Err("pip install diskcache==5.6.3 pymemcache redis failed".into());
    }
    Ok(py)
}

/// Per action: the latencies (ns) and the misses.
type Tally = BTreeMap<String, (Vec<u64>, u64)>;

/// Runs `kind` with `procs` workers of `count` operations on a fresh
/// directory that already holds every key.
fn measure(kind: &str, procs: u64, count: u64) -> Res<Tally> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("path")?.to_string();
    let exe = std::env::current_exe()?;
    // Servers run for the whole measurement; Python drives `memcached` and
    // `redis`, this harness's own client `memcached-rs` and `redis-rs`.
    let server = Kind::of(kind).map(Kind::start).transpose()?;
    let (python_kind, worker_kind) = match (&server, kind.strip_prefix("py-")) {
        (Some((_, port)), _) if kind.ends_with("-rs") => (None, format!("{kind}:{port}")),
        (Some((_, port)), _) => (Some(format!("{kind}:{port}")), String::new()),
        (None, Some(k)) => (Some(k.to_string()), String::new()),
        (None, None) => (None, kind.to_string()),
    };
    let command = |ops: &Path, start: u128| -> Res<Command> {
        Ok(match &python_kind {
            Some(py_kind) => {
                let mut c = Command::new(python()?);
                c.arg(REPLAY)
                    .arg(py_kind)
                    .arg(&path)
                    .arg(ops)
                    .arg(start.to_string());
                c
            }
            None => {
                let mut c = Command::new(&exe);
                c.args(["worker", &worker_kind, &path])
                    .arg(ops)
                    .arg(start.to_string());
                c
            }
        })
    };
    // Store every key first, with one worker whose timings are dropped.
    let fill = dir.path().join("fill.ops");
    let fill_text: String = (0..KEYS)
        .map(|k| format!("s key-{k:06} value-fill-{k:012}\n"))
        .collect();
    std::fs::write(&fill, fill_text)?;
    let status = command(&fill, 0)?.stdout(Stdio::null()).status()?;
    if !status.success() {
        return Err(format!("{kind}: filling failed").into());
    }
    let start = now_ms() + if python_kind.is_some() { 1500 } else { 400 };
    let mut children = Vec::new();
    let mut progress = Vec::new();
    for id in 0..procs {
        let ops = dir.path().join(format!("worker{id}.ops"));
        std::fs::write(&ops, ops_text(id + 1, count))?;
        children.push(command(&ops, start)?.stdout(Stdio::piped()).spawn()?);
        progress.push(progress_file(&ops));
    }
    let label = format!("{kind}, {procs} process(es)");
    let mut tally = Tally::new();
    for out in wait_showing_progress(&label, children, &progress, count * procs)? {
        if !out.status.success() {
            return Err(format!(
                "{kind}: a worker failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        for line in String::from_utf8(out.stdout)?.lines() {
            let mut parts = line.split(' ');
            let (Some(action), Some(missed), Some(ns)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let name = match action {
                "g" => "get",
                "s" => "set",
                _ => "delete",
            };
            let slot = tally.entry(name.to_string()).or_default();
            slot.0.push(ns.parse()?);
            slot.1 += u64::from(missed == "1");
        }
    }
    Ok(tally)
}

/// One system's latencies (µs) at each of [`PERCENTILES`].
type Curve = (String, Vec<f64>);

/// The percentiles the charts and the JSON report.
const PERCENTILES: [f64; 6] = [0.5, 0.75, 0.9, 0.95, 0.99, 0.999];

/// Without the `charts` feature: says how to get the charts.
#[cfg(not(feature = "charts"))]
fn chart(file: &Path, _: &str, _: &[Curve]) -> Res<()> {
    eprintln!("no chart {}: build with --features charts", file.display());
    Ok(())
}

/// Draws one chart: latency at each of [`PERCENTILES`], one line per system.
#[cfg(feature = "charts")]
fn chart(file: &Path, title: &str, curves: &[Curve]) -> Res<()> {
    use plotters::prelude::*;
    let root = BitMapBackend::new(file, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = curves
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(1.0, f64::max)
        * 1.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            -0.2f64..(PERCENTILES.len() as f64 - 0.8),
            (0.5f64..top).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_labels(PERCENTILES.len())
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            PERCENTILES
                .get(i as usize)
                .map_or(String::new(), |p| format!("p{}", p * 100.0))
        })
        .y_desc("latency (µs, log scale)")
        .x_desc("percentile")
        .draw()?;
    for (i, (name, values)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(x, &y)| (x as f64, y.max(0.5)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("chart written to {}", file.display());
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        let a = |i: usize| args.get(i).map(String::as_str).ok_or("missing argument");
        return worker(a(1)?, a(2)?, a(3)?, a(4)?.parse()?);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value_after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let procs: u64 = value_after("--procs")
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(2);
    let out_dir = PathBuf::from(value_after("--out").unwrap_or_else(|| "results".into()));
    let named: Vec<&str> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with("--")
                && args
                    .get(i.wrapping_sub(1))
                    .is_none_or(|p| p != "--procs" && p != "--out")
        })
        .map(|(_, a)| a.as_str())
        .collect();
    // With no system named, a missing Python or server skips its systems;
    // a system named explicitly that cannot run is an error.
    let none_named = named.is_empty();
    let systems: Vec<&str> = if none_named { ALL.to_vec() } else { named };
    let count = if quick { 2_000 } else { 100_000 };
    std::fs::create_dir_all(&out_dir)?;
    let mut json = serde_json::Map::new();
    let mut medians: BTreeMap<(String, u64, String), f64> = BTreeMap::new();
    // (processes, action) -> the systems' latencies at each percentile.
    let mut curves: BTreeMap<(u64, String), Vec<Curve>> = BTreeMap::new();
    for &p in &[1, procs] {
        for kind in &systems {
            eprintln!("running {kind} with {p} process(es) x {count} operations…");
            let tally = match measure(kind, p, count) {
                Ok(t) => t,
                Err(e)
                    if !matches!(*kind, "shard" | "fanout4" | "fanout8" | "floor")
                        && none_named =>
                {
                    eprintln!("skipping {kind}: {e}");
                    continue;
                }
                Err(e) => return Err(e),
            };
            println!("\n{kind}, {p} process(es), {count} operations each (µs)");
            println!(
                "{:<8}{:>9}{:>8}{:>9}{:>9}{:>9}{:>10}{:>10}",
                "action", "count", "misses", "median", "p90", "p99", "max", "total s"
            );
            let mut rows = serde_json::Map::new();
            for (action, (mut ns, misses)) in tally {
                ns.sort_unstable();
                let total = ns.iter().sum::<u64>() as f64 / 1e9;
                let (m, p90, p99, max) = (
                    quantile_us(&ns, 0.5),
                    quantile_us(&ns, 0.9),
                    quantile_us(&ns, 0.99),
                    quantile_us(&ns, 1.0),
                );
                println!(
                    "{action:<8}{:>9}{misses:>8}{m:>9.2}{p90:>9.2}{p99:>9.2}{max:>10.1}{total:>10.3}",
                    ns.len()
                );
                medians.insert((kind.to_string(), p, action.clone()), m);
                let at: Vec<f64> = PERCENTILES.iter().map(|&q| quantile_us(&ns, q)).collect();
                curves
                    .entry((p, action.clone()))
                    .or_default()
                    .push((kind.to_string(), at.clone()));
                rows.insert(
                    action,
                    serde_json::json!({"count": ns.len(), "misses": misses, "median_us": m, "p90_us": p90, "p99_us": p99, "max_us": max, "total_s": total, "percentiles": PERCENTILES, "latency_us_at_percentiles": at}),
                );
            }
            json.insert(format!("{kind}/{p}"), serde_json::Value::Object(rows));
        }
    }
    println!("\nsummary: median as a ratio to the shard's (below 1 = faster than ours)");
    for &p in &[1, procs] {
        for kind in &systems {
            let ratio = |action: &str| median_ratio(&medians, kind, "shard", p, action);
            println!(
                "  {kind:<13} {p} proc: get {}  set {}",
                ratio("get"),
                ratio("set")
            );
        }
    }
    println!("ours as a ratio to the raw-SQLite floor (1 = as fast as SQLite itself)");
    for &p in &[1, procs] {
        let ratio = |action: &str| median_ratio(&medians, "shard", "floor", p, action);
        println!(
            "  shard / floor {p} proc: get {}  set {}",
            ratio("get"),
            ratio("set")
        );
    }
    let file = out_dir.join("results.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&serde_json::Value::Object(json))?,
    )?;
    println!("\nresults written to {}", file.display());
    for ((p, action), systems) in &curves {
        let png = out_dir.join(format!("{action}-{p}proc.png"));
        let title = format!("{action}: {p} process(es) x {count} operations");
        chart(&png, &title, systems)?;
    }
    Ok(())
}

/// The median of `kind`'s `action` with `procs` processes divided by
/// `base`'s, to two decimals, or "-" when either was not measured.
fn median_ratio(
    medians: &BTreeMap<(String, u64, String), f64>,
    kind: &str,
    base: &str,
    procs: u64,
    action: &str,
) -> String {
    let median = |k: &str| medians.get(&(k.to_string(), procs, action.to_string()));
    match (median(kind), median(base)) {
        (Some(k), Some(b)) => format!("{:.2}", k / b),
        _ => "-".into(),
    }
}
