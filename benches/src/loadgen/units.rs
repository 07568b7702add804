//! Parsing the command line's units: sizes (`4KiB`), durations (`20s`) and
//! operation mixes (`get=70,put=20,delete=10`).

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Parses a size: plain bytes (`4096`), binary units (`4KiB`, `1MiB`, `1GiB`,
/// also `4K`, `1M`, `1G`) or decimal units (`4KB`, `1MB`, `1GB`).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        bail!("size {s:?}: expected a number, e.g. 4KiB, 1MiB, 4096");
    }
    let n: u64 = num.parse().with_context(|| format!("size {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => bail!("size {s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, KB, MB, GB)"),
    };
    n.checked_mul(mult)
        .with_context(|| format!("size {s:?}: too large"))
}

/// Formats a byte count the way people write benchmark sizes (`4KiB`, `1MiB`).
pub fn format_size(n: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    format!("{n}B")
}

/// Parses a duration: `20s`, `500ms`, `2m`, or plain seconds (`20`).
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .with_context(|| format!("duration {s:?}: expected e.g. 20s, 500ms, 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        other => bail!("duration {s:?}: unknown unit {other:?} (use ms, s, m)"),
    };
    if !(secs.is_finite() && secs > 0.0) {
        bail!("duration {s:?}: must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The weights of each operation in `mixed` mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Weight of GET.
    pub get: u32,
    /// Weight of PUT.
    pub put: u32,
    /// Weight of DELETE.
    pub delete: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            get: 70,
            put: 20,
            delete: 10,
        }
    }
}

/// Parses `get=70,put=20,delete=10` (any subset; missing ones weigh 0).
pub fn parse_mix(s: &str) -> Result<Mix> {
    let mut mix = Mix {
        get: 0,
        put: 0,
        delete: 0,
    };
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, weight) = item
            .split_once('=')
            .with_context(|| format!("mix {s:?}: expected op=weight, got {item:?}"))?;
        let weight: u32 = weight
            .trim()
            .parse()
            .with_context(|| format!("mix {s:?}: weight of {name:?}"))?;
        match name.trim().to_ascii_lowercase().as_str() {
            "get" => mix.get = weight,
            "put" => mix.put = weight,
            "delete" | "del" => mix.delete = weight,
            other => bail!("mix {s:?}: unknown op {other:?} (use get, put, delete)"),
        }
    }
    let total = u64::from(mix.get) + u64::from(mix.put) + u64::from(mix.delete);
    if total == 0 || total > u64::from(u32::MAX) {
        bail!("mix {s:?}: weights must add up to more than 0");
    }
    Ok(mix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("64mib").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("4XB").is_err());
        assert_eq!(format_size(4096), "4KiB");
        assert_eq!(format_size(20 << 20), "20MiB");
        assert_eq!(format_size(1000), "1000B");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn mixes() {
        assert_eq!(
            parse_mix("get=70,put=20,delete=10").unwrap(),
            Mix::default()
        );
        assert_eq!(
            parse_mix("put=1").unwrap(),
            Mix {
                get: 0,
                put: 1,
                delete: 0
            }
        );
        assert!(parse_mix("get=0").is_err());
        assert!(parse_mix("head=1").is_err());
    }
}
