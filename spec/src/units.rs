//! Durations, byte sizes and CPU counts, written as Compose writes them.

use std::fmt;

use serde::{Serialize, Serializer};

/// A duration written as Compose writes it: `30s`, `1m30s`, `1h`, `500ms`, `1.5s`.
///
/// ```
/// use holdfast_spec::Duration;
/// let d: Duration = "1m30s".parse().unwrap();
/// assert_eq!(d.as_millis(), 90_000);
/// assert_eq!(d.to_string(), "1m30s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// A duration of `ms` milliseconds.
    pub fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// Whole milliseconds.
    pub fn as_millis(&self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// The duration as a [`std::time::Duration`].
    pub fn std(&self) -> std::time::Duration {
        self.0
    }
}

/// Why a duration, size or CPU count did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);

impl std::str::FromStr for Duration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let bad = || {
            UnitError(format!(
                "`{s}` is not a duration; write a number with a unit, like `30s`, `1m30s`, `500ms` or `2h` (units: ns, us, ms, s, m, h)"
            ))
        };
        let text = s.trim();
        if text.is_empty() {
            return Err(bad());
        }
        if text == "0" {
            return Ok(Duration::default());
        }
        let mut total_ns: f64 = 0.0;
        let mut rest = text;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            if num_len == 0 {
                return Err(bad());
            }
            let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit_ns = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            total_ns += value * unit_ns;
        }
        if !total_ns.is_finite() || total_ns > 1e18 {
            return Err(UnitError(format!("`{s}` is too long a duration")));
        }
        Ok(Duration(std::time::Duration::from_nanos(
            total_ns.round() as u64
        )))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.as_millis();
        let sub_ms = self.0.as_nanos() % 1_000_000;
        if ms == 0 && sub_ms == 0 {
            return f.write_str("0s");
        }
        let mut out = String::new();
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            if ms >= size {
                out.push_str(&format!("{}{unit}", ms / size));
                ms %= size;
            }
        }
        if sub_ms > 0 {
            out.push_str(&format!("{}ns", sub_ms));
        }
        f.write_str(&out)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A number of bytes written as Compose writes it: `512M`, `1g`, `256mb`, `1024`.
///
/// ```
/// use holdfast_spec::ByteSize;
/// let size: ByteSize = "512M".parse().unwrap();
/// assert_eq!(size.bytes(), 512 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ByteSize(u64);

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(&self) -> u64 {
        self.0
    }

    /// A size of `n` bytes.
    pub fn from_bytes(n: u64) -> Self {
        ByteSize(n)
    }
}

impl std::str::FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let bad = || {
            UnitError(format!(
                "`{s}` is not a size; write a number with a unit, like `512M`, `1G` or `256k` (units: b, k, m, g, t)"
            ))
        };
        let text = s.trim().to_ascii_lowercase();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        if split == 0 {
            return Err(bad());
        }
        let value: f64 = text[..split].parse().map_err(|_| bad())?;
        let factor: f64 = match &text[split..] {
            "" | "b" => 1.0,
            "k" | "kb" | "kib" => 1024.0,
            "m" | "mb" | "mib" => 1024.0 * 1024.0,
            "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        let bytes = value * factor;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(UnitError(format!("`{s}` is too large")));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("G", 1u64 << 30), ("M", 1 << 20), ("k", 1 << 10)] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}b", self.0)
    }
}

/// A number of CPUs, such as `0.5` or `"2"`. Stored exactly as billionths of a CPU
/// (Docker's `NanoCpus`).
///
/// ```
/// use holdfast_spec::Cpus;
/// assert_eq!("0.5".parse::<Cpus>().unwrap().nano_cpus(), 500_000_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpus(u64);

impl Cpus {
    /// Billionths of a CPU, as Docker's `NanoCpus` wants them.
    pub fn nano_cpus(&self) -> u64 {
        self.0
    }
}

impl std::str::FromStr for Cpus {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let bad = || {
            UnitError(format!(
                "`{s}` is not a number of CPUs; write a positive number like `0.5` or `2`"
            ))
        };
        let value: f64 = s.trim().parse().map_err(|_| bad())?;
        if !value.is_finite() || value <= 0.0 || value > 1e6 {
            return Err(bad());
        }
        Ok(Cpus((value * 1e9).round() as u64))
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1_000_000_000;
        let frac = self.0 % 1_000_000_000;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:09}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl Serialize for Cpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ms = |s: &str| s.parse::<Duration>().map(|d| d.as_millis());
        assert_eq!(ms("30s"), Ok(30_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("1.5s"), Ok(1_500));
        assert_eq!(ms("2h"), Ok(7_200_000));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("0"), Ok(0));
        for bad in ["30 seconds", "30", "s", "", "1x", "1.2.3s", "-1s"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
        assert_eq!("90s".parse::<Duration>().unwrap().to_string(), "1m30s");
        assert_eq!("1h0m1ms".parse::<Duration>().unwrap().to_string(), "1h1ms");
    }

    #[test]
    fn sizes() {
        let b = |s: &str| s.parse::<ByteSize>().map(|d| d.bytes());
        assert_eq!(b("512M"), Ok(512 << 20));
        assert_eq!(b("512mb"), Ok(512 << 20));
        assert_eq!(b("1g"), Ok(1 << 30));
        assert_eq!(b("1.5G"), Ok(3 << 29));
        assert_eq!(b("1024"), Ok(1024));
        for bad in ["lots", "", "M", "12 apples", "1e400"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
        assert_eq!(ByteSize::from_bytes(512 << 20).to_string(), "512M");
    }

    #[test]
    fn cpus() {
        assert_eq!("0.5".parse::<Cpus>().unwrap().nano_cpus(), 500_000_000);
        assert_eq!("2".parse::<Cpus>().unwrap().to_string(), "2");
        assert_eq!("0.25".parse::<Cpus>().unwrap().to_string(), "0.25");
        for bad in ["half", "0", "-1", "NaN", "inf"] {
            assert!(bad.parse::<Cpus>().is_err(), "{bad}");
        }
    }
}
