//! What the python-diskcache format itself costs a write of a new key,
//! part by part, against the raw-SQLite floor: the same INSERT inside
//! `BEGIN IMMEDIATE … COMMIT` on the `Cache` table with only its key index,
//! then with the eviction index, then with the `count` trigger, then both
//! (the format as written by this library under least-recently-stored).
//!
//! Usage: `format-cost [inserts-per-round] [rounds]`

use diskcache_bench::{Samples, cache_pragmas, key, value};
use rusqlite::{Connection, params};

const TABLES: &str = "CREATE TABLE Settings (key TEXT NOT NULL UNIQUE, value);
INSERT INTO Settings VALUES ('count', 0), ('size', 0);
CREATE TABLE Cache (rowid INTEGER PRIMARY KEY, key BLOB, raw INTEGER, store_time REAL,
  expire_time REAL, access_time REAL, access_count INTEGER DEFAULT 0, tag BLOB,
  size INTEGER DEFAULT 0, mode INTEGER DEFAULT 0, filename TEXT, value BLOB);
CREATE UNIQUE INDEX Cache_key_raw ON Cache(key, raw);
CREATE INDEX Cache_expire_time ON Cache(expire_time) WHERE expire_time IS NOT NULL;";
const POLICY_INDEX: &str = "CREATE INDEX Cache_store_time ON Cache(store_time);";
const COUNT_TRIGGER: &str = "CREATE TRIGGER Settings_count_insert AFTER INSERT ON Cache FOR EACH ROW \
                             BEGIN UPDATE Settings SET value = value + 1 WHERE key = 'count'; END;";
const INSERT: &str = "INSERT INTO Cache (key, raw, store_time, expire_time, access_time, access_count, \
                      tag, size, mode, filename, value) VALUES (?1, 1, ?2, NULL, ?2, 0, NULL, 0, 1, NULL, ?3)";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let ops: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(6000);
    let rounds: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dir = tempfile::tempdir()?;
    let variants = [
        (
            "floor: kv table, INSERT OR REPLACE",
            "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB);".to_string(),
        ),
        ("Cache with its key index", TABLES.to_string()),
        (
            "+ eviction index (store_time)",
            format!("{TABLES}{POLICY_INDEX}"),
        ),
        ("+ count trigger", format!("{TABLES}{COUNT_TRIGGER}")),
        (
            "+ both: the format",
            format!("{TABLES}{POLICY_INDEX}{COUNT_TRIGGER}"),
        ),
    ];
    let mut conns = Vec::new();
    for (i, (_, schema)) in variants.iter().enumerate() {
        let conn = Connection::open(dir.path().join(format!("{i}.db")))?;
        conn.execute_batch(&format!("{}{schema}", cache_pragmas(0)))?;
        conns.push(conn);
    }
    let mut samples = vec![Samples::default(); variants.len()];
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    for round in 0..rounds {
        for (i, conn) in conns.iter().enumerate() {
            for n in round * ops..(round + 1) * ops {
                let (k, v) = (key(n), value(n));
                samples[i].time(|| -> rusqlite::Result<()> {
                    if i == 0 {
                        conn.prepare_cached(
                            "INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)",
                        )?
                        .execute(params![k, v])?;
                    } else {
                        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
                        conn.prepare_cached(INSERT)?.execute(params![k, now(), v])?;
                        conn.prepare_cached("COMMIT")?.execute([])?;
                    }
                    Ok(())
                })?;
            }
        }
    }
    println!("{ops} new keys per round, {rounds} rounds");
    let floor = samples[0].quantile_us(0.5);
    for ((name, _), s) in variants.iter().zip(&samples) {
        let m = s.quantile_us(0.5);
        println!("{name:<36} median {m:>6.2} µs  {:>5.2}x floor", m / floor);
    }
    Ok(())
}
