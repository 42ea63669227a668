//! Which backups a retention policy keeps: grandfather-father-son with restic's
//! semantics, over Verified backups only.
//!
//! - `keep_last`: the newest N.
//! - `keep_daily`, `keep_weekly`, `keep_monthly`: walking from the newest, the newest
//!   backup of each of the last N days (ISO weeks, months) that have one. A period
//!   counts only if a Verified backup exists in it, so failed runs never use up a
//!   period.
//! - `min_keep`: a floor no policy goes below: the newest N are kept whatever else the
//!   policy says.
//! - A pinned backup is always kept.
//!
//! Backups that are not Verified (running, failed, suspect, not yet read back) are
//! neither kept nor deleted here: the caller decides about them. A policy that would
//! delete every Verified backup is refused.
//!
//! Pure: no clock, no I/O. The periods are those of the schedule's time zone.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// How many backups to keep, per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// The newest N.
    pub keep_last: u32,
    /// The newest of each of the last N days with one.
    pub keep_daily: u32,
    /// The newest of each of the last N ISO weeks with one.
    pub keep_weekly: u32,
    /// The newest of each of the last N months with one.
    pub keep_monthly: u32,
    /// The floor: at least the newest N are kept.
    pub min_keep: u32,
}

/// One stored backup, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The backup's ID.
    pub id: String,
    /// When it was taken.
    pub at: Timestamp,
    /// Whether it was read back and fully decoded.
    pub verified: bool,
    /// Kept forever (`holdfast backup pin`).
    pub pinned: bool,
}

/// What the policy decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// The backups kept, by ID.
    pub keep: BTreeSet<String>,
    /// The Verified backups to delete, by ID, newest first.
    pub delete: Vec<String>,
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    /// Every Verified backup would go.
    #[error(
        "the retention policy would delete all {0} verified backups; set `keep_last`, a `keep_*` period or `min_keep` to 1 or more"
    )]
    DeletesEverything(usize),
}

/// Applies `policy` to `backups`, the periods taken in `tz`.
pub fn decide(
    backups: &[Candidate],
    policy: &Policy,
    tz: &TimeZone,
) -> Result<Decision, RetentionError> {
    let mut verified: Vec<&Candidate> = backups.iter().filter(|b| b.verified).collect();
    // Newest first; the ID breaks ties, so the order never depends on the input's.
    verified.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    let mut keep: BTreeSet<String> = BTreeSet::new();
    let newest = |n: u32| verified.iter().take(n as usize).map(|b| b.id.clone());
    keep.extend(newest(policy.keep_last));
    for (count, period) in [
        (policy.keep_daily, Period::Day),
        (policy.keep_weekly, Period::Week),
        (policy.keep_monthly, Period::Month),
    ] {
        let mut left = count;
        let mut last = None;
        for b in &verified {
            if left == 0 {
                break;
            }
            let bucket = period.of(b.at, tz);
            if last != Some(bucket) {
                keep.insert(b.id.clone());
                last = Some(bucket);
                left -= 1;
            }
        }
    }
    keep.extend(newest(policy.min_keep));
    keep.extend(backups.iter().filter(|b| b.pinned).map(|b| b.id.clone()));
    if !verified.is_empty() && verified.iter().all(|b| !keep.contains(&b.id)) {
        return Err(RetentionError::DeletesEverything(verified.len()));
    }
    let delete = verified
        .iter()
        .filter(|b| !keep.contains(&b.id))
        .map(|b| b.id.clone())
        .collect();
    Ok(Decision { keep, delete })
}

/// A period of the calendar.
#[derive(Debug, Clone, Copy)]
enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    /// The period `at` falls in, in `tz`: (year, number).
    fn of(self, at: Timestamp, tz: &TimeZone) -> (i16, i16) {
        let date = tz.to_datetime(at).date();
        match self {
            Period::Day => (date.year(), date.day_of_year()),
            Period::Week => {
                let week = date.iso_week_date();
                (week.year(), i16::from(week.week()))
            }
            Period::Month => (date.year(), i16::from(date.month())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn backup(id: &str, seconds: i64, verified: bool) -> Candidate {
        Candidate {
            id: id.into(),
            at: at(seconds),
            verified,
            pinned: false,
        }
    }

    /// 2026-01-01T03:00:00Z.
    const START: i64 = 1_767_236_400;

    #[test]
    fn forty_days_with_the_last_ten_runs_failing_keep_the_floor() {
        let backups: Vec<Candidate> = (0..40)
            .map(|d| backup(&format!("b{d:02}"), START + d * DAY, d < 30))
            .collect();
        let policy = Policy {
            keep_daily: 7,
            keep_weekly: 4,
            min_keep: 3,
            ..Policy::default()
        };
        let kept = decide(&backups, &policy, &TimeZone::UTC).unwrap().keep;
        // The failed runs use up no day: the last 7 verified days are days 23..=29.
        for d in 23..30 {
            assert!(kept.contains(&format!("b{d:02}")), "day {d}: {kept:?}");
        }
        assert!(kept.len() >= 3);
        assert!(kept.iter().all(|id| id.as_str() < "b30"), "{kept:?}");
    }

    #[test]
    fn periods_are_those_of_the_time_zone() {
        // 23:30 UTC on 2 January and 00:30 UTC on 3 January: two days in UTC, one day
        // (3 January) at UTC+2.
        let late = START + DAY + 20 * 3600 + 1800;
        let backups = [backup("a", late, true), backup("b", late + 3600, true)];
        let policy = Policy {
            keep_daily: 2,
            ..Policy::default()
        };
        let utc = decide(&backups, &policy, &TimeZone::UTC).unwrap();
        assert_eq!(utc.keep.len(), 2);
        let plus_two = TimeZone::fixed(jiff::tz::offset(2));
        let local = decide(&backups, &policy, &plus_two).unwrap();
        assert_eq!(
            local.keep.iter().collect::<Vec<_>>(),
            ["b"],
            "one day at UTC+2"
        );
    }

    #[test]
    fn a_policy_that_deletes_everything_is_refused_and_pins_are_kept() {
        let backups = [backup("a", START, true), backup("b", START + DAY, true)];
        assert_eq!(
            decide(&backups, &Policy::default(), &TimeZone::UTC),
            Err(RetentionError::DeletesEverything(2))
        );
        let mut pinned = backups.to_vec();
        pinned[0].pinned = true;
        let policy = Policy {
            keep_last: 1,
            ..Policy::default()
        };
        let d = decide(&pinned, &policy, &TimeZone::UTC).unwrap();
        assert_eq!(d.keep.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert!(d.delete.is_empty());
        // Unverified backups are neither kept nor deleted.
        let mixed = [backup("a", START, false), backup("b", START + DAY, true)];
        let d = decide(&mixed, &policy, &TimeZone::UTC).unwrap();
        assert_eq!(d.keep.iter().collect::<Vec<_>>(), ["b"]);
        assert!(d.delete.is_empty());
    }

    /// The reference model, written another way: group the Verified backups by period,
    /// take each period's newest, and keep the newest N periods.
    fn reference(backups: &[Candidate], policy: &Policy, tz: &TimeZone) -> BTreeSet<String> {
        let mut verified: Vec<&Candidate> = backups.iter().filter(|b| b.verified).collect();
        verified.sort_by_key(|b| std::cmp::Reverse((b.at, b.id.clone())));
        let mut keep = BTreeSet::new();
        for b in verified.iter().take(policy.keep_last as usize) {
            keep.insert(b.id.clone());
        }
        for (n, period) in [
            (policy.keep_daily, Period::Day),
            (policy.keep_weekly, Period::Week),
            (policy.keep_monthly, Period::Month),
        ] {
            let mut newest: std::collections::BTreeMap<(i16, i16), &Candidate> =
                std::collections::BTreeMap::new();
            for b in &verified {
                newest
                    .entry(period.of(b.at, tz))
                    .and_modify(|c| {
                        if (b.at, &b.id) > (c.at, &c.id) {
                            *c = b;
                        }
                    })
                    .or_insert(b);
            }
            for (_, b) in newest.iter().rev().take(n as usize) {
                keep.insert(b.id.clone());
            }
        }
        for b in verified.iter().take(policy.min_keep as usize) {
            keep.insert(b.id.clone());
        }
        for b in backups.iter().filter(|b| b.pinned) {
            keep.insert(b.id.clone());
        }
        keep
    }

    proptest! {
        #[test]
        fn the_kept_set_equals_the_reference_model(
            runs in proptest::collection::vec((0i64..120 * DAY, any::<bool>(), proptest::bool::weighted(0.05)), 0..80),
            keep_last in 0u32..4,
            keep_daily in 0u32..10,
            keep_weekly in 0u32..6,
            keep_monthly in 0u32..4,
            min_keep in 0u32..4,
            offset in -12i8..14,
        ) {
            let backups: Vec<Candidate> = runs
                .iter()
                .enumerate()
                .map(|(i, (t, verified, pinned))| Candidate {
                    id: format!("r{i:03}"),
                    at: at(START + t),
                    verified: *verified,
                    pinned: *pinned,
                })
                .collect();
            let policy = Policy { keep_last, keep_daily, keep_weekly, keep_monthly, min_keep };
            let tz = TimeZone::fixed(jiff::tz::offset(offset));
            match decide(&backups, &policy, &tz) {
                Ok(d) => {
                    prop_assert_eq!(&d.keep, &reference(&backups, &policy, &tz));
                    let floor = policy.min_keep.min(backups.iter().filter(|b| b.verified).count() as u32);
                    let kept_verified = backups.iter().filter(|b| b.verified && d.keep.contains(&b.id)).count() as u32;
                    prop_assert!(kept_verified >= floor);
                    for id in &d.delete {
                        prop_assert!(!d.keep.contains(id));
                    }
                }
                Err(RetentionError::DeletesEverything(n)) => {
                    prop_assert!(n > 0);
                    prop_assert_eq!(keep_last + keep_daily + keep_weekly + keep_monthly + min_keep, 0);
                    prop_assert!(!backups.iter().any(|b| b.verified && b.pinned));
                }
            }
        }
    }
}
