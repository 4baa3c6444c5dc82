//! Self-checking values: each names its key, writer and sequence number and
//! carries a payload derived from them, so a reader can tell a whole value
//! from a torn one or from another key's.

const MAGIC: &[u8; 4] = b"DCSR";

pub use diskcache_bench::Rng;

fn seed(key: &str, writer: u32, seq: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key
        .bytes()
        .chain(writer.to_le_bytes())
        .chain(seq.to_le_bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn payload(key: &str, writer: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed(key, writer, seq));
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The value `writer` stores under `key` as its `seq`-th write.
pub fn make(key: &str, writer: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 24 + key.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&writer.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&u16::try_from(key.len()).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&payload(key, writer, seq, len));
    out
}

/// Checks that `bytes` is a whole value some writer stored under `key`;
/// gives that writer and its sequence number.
pub fn check(key: &str, bytes: &[u8]) -> Result<(u32, u64), String> {
    let field = |at: usize, n: usize| {
        bytes
            .get(at..at + n)
            .ok_or_else(|| format!("{key}: value too short"))
    };
    if field(0, 4)? != MAGIC {
        return Err(format!("{key}: not a stress value"));
    }
    let num = |at: usize, n: usize| -> Result<u64, String> {
        Ok(field(at, n)?
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    };
    let writer = u32::try_from(num(4, 4)?).map_err(|e| e.to_string())?;
    let seq = num(8, 8)?;
    let len = usize::try_from(num(16, 4)?).map_err(|e| e.to_string())?;
    let key_len = usize::try_from(num(20, 2)?).map_err(|e| e.to_string())?;
    let stored_key = field(22, key_len)?;
    if stored_key != key.as_bytes() {
        return Err(format!(
            "{key}: holds the value of {:?}",
            String::from_utf8_lossy(stored_key)
        ));
    }
    let body = &bytes[22 + key_len..];
    if body.len() != len {
        return Err(format!("{key}: torn value, {} of {len} bytes", body.len()));
    }
    if body != payload(key, writer, seq, len).as_slice() {
        return Err(format!(
            "{key}: payload differs from what writer {writer} wrote as {seq}"
        ));
    }
    Ok((writer, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_values_pass_and_damaged_ones_do_not() {
        let v = make("k1", 3, 9, 1000);
        assert_eq!(check("k1", &v), Ok((3, 9)));
        assert!(check("k2", &v).is_err());
        assert!(check("k1", &v[..v.len() - 1]).is_err());
        let mut flipped = v.clone();
        if let Some(b) = flipped.last_mut() {
            *b ^= 1;
        }
        assert!(check("k1", &flipped).is_err());
    }
}
