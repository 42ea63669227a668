//! Medians, 90th percentiles and ratios of samples.

/// A set of samples reduced to what the report shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The median (the mean of the two middle samples when `n` is even).
    pub median: f64,
    /// The 90th percentile, nearest rank: the smallest sample at or above 90 % of them.
    pub p90: f64,
}

impl Summary {
    /// Summarises `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        // Nearest rank: ceil(0.9 n), 1-based.
        let rank = (n * 9).div_ceil(10).max(1);
        Some(Summary {
            n,
            median,
            p90: sorted[rank - 1],
        })
    }
}

/// `a / b`, or NaN when `b` is zero.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { f64::NAN } else { a / b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert_eq!(s.n, 10);
        assert_eq!(s.median, 5.5);
        assert_eq!(s.p90, 9.0);
        let s = Summary::of(&[3.0]).unwrap();
        assert_eq!((s.median, s.p90), (3.0, 3.0));
        assert!(Summary::of(&[]).is_none());
    }
}
