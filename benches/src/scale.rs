//! Two workloads of the benchmark suite (issue 4):
//!
//! - **size**: the cache filled to 10^3, 10^5 and 10^6 items; get and set
//!   medians of short values at each size, to show cost stays flat.
//! - **values**: values of 1 KiB, 64 KiB, 1 MiB and 16 MiB written and read
//!   back (into a `Vec`, and zero-copy through a memory map), in MB/s,
//!   against a plain file write and read of the same bytes.
//!
//! Usage: `scale [--quick] [--mmap BYTES] [--no-memo]` (quick: 10^3 and
//! 10^4 items, fewer rounds; `--mmap`: SQLite's `mmap_size` for the cache
//! and the floor in the size workload, default 0 as the cache's own
//! default; `--no-memo`: the cache's read memo off).

use std::io::{Read, Write};
use std::time::Instant;

use diskcache_bench::{Res, Rng, Samples, System, cache_builder, key, value};
use diskcache_shard::{Cache, CacheBuilder, SetOptions};

/// Fills the floor up to `n` items in one transaction.
fn fill_floor(floor: &System, from: u64, n: u64) -> Res<()> {
    let System::Floor(conn) = floor else {
        return Err("not the floor".into());
    };
    conn.execute_batch("BEGIN")?;
    for j in from..n {
        floor.set(&key(j), &value(j))?;
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

/// Fills `cache` up to `n` items in transactions of 1000.
fn fill(cache: &Cache, from: u64, n: u64) -> Res<()> {
    let mut i = from;
    while i < n {
        let end = (i + 1000).min(n);
        cache.transact(|| {
            for j in i..end {
                cache.set(&key(j), &value(j))?;
            }
            Ok::<_, diskcache_shard::Error>(())
        })?;
        i = end;
    }
    Ok(())
}

fn sizes(quick: bool, mmap: i64, builder: CacheBuilder) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let cache = builder
        .size_limit(u64::MAX >> 1)
        .sqlite_mmap_size(mmap)
        .open(dir.path().join("cache"))?;
    let steps: &[u64] = if quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 100_000, 1_000_000]
    };
    let ops = if quick { 5_000 } else { 20_000 };
    let raw = System::open_floor(dir.path(), mmap)?;
    println!(
        "items       get median  set median   floor get  floor set   (µs; {ops} gets and {} sets of present keys; mmap_size {mmap})",
        ops / 4
    );
    let mut filled = 0;
    let mut first: Option<(f64, f64, f64, f64)> = None;
    for &n in steps {
        let started = Instant::now();
        fill(&cache, filled, n)?;
        fill_floor(&raw, filled, n)?;
        filled = n;
        let fill_secs = started.elapsed().as_secs_f64();
        let (mut g, mut s) = (Samples::default(), Samples::default());
        let mut rng = Rng::new(n);
        for _ in 0..ops {
            let i = rng.below(n);
            let got = g.time(|| cache.get::<Vec<u8>>(&key(i)))?;
            if got.is_none() {
                return Err(format!("key {i} missing").into());
            }
        }
        for _ in 0..ops / 4 {
            let i = rng.below(n);
            s.time(|| cache.set(&key(i), &value(i + 1)))?;
        }
        let (mut fg, mut fs) = (Samples::default(), Samples::default());
        let mut rng = Rng::new(n);
        for _ in 0..ops {
            let i = rng.below(n);
            if fg.time(|| raw.get(&key(i)))?.is_none() {
                return Err(format!("floor key {i} missing").into());
            }
        }
        for _ in 0..ops / 4 {
            let i = rng.below(n);
            fs.time(|| raw.set(&key(i), &value(i + 1)))?;
        }
        let (gm, sm) = (g.quantile_us(0.5), s.quantile_us(0.5));
        let (fgm, fsm) = (fg.quantile_us(0.5), fs.quantile_us(0.5));
        let base = *first.get_or_insert((gm, sm, fgm, fsm));
        println!(
            "{n:>9}   {gm:>9.2}   {sm:>9.2}   {fgm:>9.2}  {fsm:>9.2}    (ours {:.2}x/{:.2}x, floor {:.2}x/{:.2}x the first size; filled in {fill_secs:.1} s)",
            gm / base.0,
            sm / base.1,
            fgm / base.2,
            fsm / base.3
        );
    }
    Ok(())
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn values(quick: bool) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path().join("cache"))?;
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain)?;
    let rounds = if quick { 3 } else { 10 };
    println!(
        "value size   cache write  file write   cache read  mmap read   file read   (MB/s, medians of {rounds})"
    );
    for size in [1usize << 10, 64 << 10, 1 << 20, 16 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let (mut cw, mut fw, mut cr, mut mr, mut fr) = (vec![], vec![], vec![], vec![], vec![]);
        for r in 0..rounds {
            let k = format!("v{size}-{r}");
            let t = Instant::now();
            cache.set_reader(&k, &mut data.as_slice(), &SetOptions::new())?;
            cw.push(mbps(size, t.elapsed().as_secs_f64()));

            let path = plain.join(&k);
            let t = Instant::now();
            std::fs::File::create(&path)?.write_all(&data)?;
            fw.push(mbps(size, t.elapsed().as_secs_f64()));

            let t = Instant::now();
            let v: Vec<u8> = cache
                .get::<serde_bytes::ByteBuf>(&k)?
                .ok_or("missing")?
                .into_vec();
            cr.push(mbps(size, t.elapsed().as_secs_f64()));
            if v != data {
                return Err("cache read differs".into());
            }

            // Zero-copy: map, then sum the bytes, so that the figure
            // includes reading them, as the plain read's does.
            let t = Instant::now();
            let mapped = cache.read(&k)?.ok_or("missing")?;
            let total: u64 = mapped.iter().map(|&b| u64::from(b)).sum();
            mr.push(mbps(size, t.elapsed().as_secs_f64()));
            std::hint::black_box(total);

            let t = Instant::now();
            let mut buf = Vec::with_capacity(size);
            std::fs::File::open(&path)?.read_to_end(&mut buf)?;
            let total: u64 = buf.iter().map(|&b| u64::from(b)).sum();
            fr.push(mbps(size, t.elapsed().as_secs_f64()));
            std::hint::black_box(total);
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let label = if size >= 1 << 20 {
            format!("{} MiB", size >> 20)
        } else {
            format!("{} KiB", size >> 10)
        };
        let mmap = med(&mut mr);
        let file = med(&mut fr);
        println!(
            "{label:>10}   {:>10.0}   {:>9.0}   {:>10.0}  {mmap:>9.0}   {file:>9.0}   (mmap read {:.0}% of file read)",
            med(&mut cw),
            med(&mut fw),
            med(&mut cr),
            100.0 * mmap / file
        );
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mmap = match args.iter().position(|a| a == "--mmap") {
        Some(i) => args
            .get(i + 1)
            .ok_or("--mmap needs a byte count")?
            .parse()?,
        None => 0,
    };
    sizes(quick, mmap, cache_builder(&args))?;
    println!();
    values(quick)
}
