//! Segments: one drill split over `n` processes so that their union is
//! the one-process run.
//!
//! Segment `i` of `n` runs the workers whose global ids are `i`, `i + n`,
//! `i + 2n`, ... of the `n × workers` the whole drill has. Open-model
//! arrivals go to global workers by their index in the scenario's whole
//! schedule, closed-model users by their number, so every arrival and
//! every user falls to exactly one segment, at the time one run would send
//! it. A closed-model stage's request cap is split exactly, and request
//! sequence numbers (credential rotation, payloads, iteration ids)
//! interleave: segment `i` numbers its requests `i`, `i + n`, `i + 2n`, ...

use std::fmt;
use std::str::FromStr;

/// Which part of a drill this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// 0-based, below `count` (as Kubernetes' `JOB_COMPLETION_INDEX`).
    pub index: u32,
    /// How many segments the drill has.
    pub count: u32,
}

/// Why a segment is not `i/n`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// Not of the form `i/n`.
    #[error("{0:?} is not i/n (e.g. 0/4: the first of four segments)")]
    Form(String),
    /// `n` is zero or `i` is not below it.
    #[error(
        "segment {index}/{count}: the index counts from 0 and must be below the count, \
         which is 1 to {MAX_SEGMENTS}"
    )]
    Range {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
}

/// The most segments a drill may have.
pub const MAX_SEGMENTS: u32 = 1000;

impl Segment {
    /// The whole drill in one process.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// Segment `index` of `count` (at most [`MAX_SEGMENTS`]).
    pub fn new(index: u32, count: u32) -> Result<Self, SegmentError> {
        if count == 0 || count > MAX_SEGMENTS || index >= count {
            return Err(SegmentError::Range { index, count });
        }
        Ok(Segment { index, count })
    }

    /// Whether this is the whole drill.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The drill's workers over all its segments, when each runs `workers`.
    pub fn all_workers(&self, workers: u32) -> u32 {
        workers * self.count
    }

    /// The global id of this segment's worker `local` (of `workers` per segment).
    pub(crate) fn global_worker(&self, local: u32) -> u32 {
        local * self.count + self.index
    }

    /// This segment's share of a closed-model stage's request cap, where
    /// the stage's `users` are split over the segments: in proportion to
    /// the users the segment runs (each user sends as fast as any other),
    /// the remainder to the largest fractions. The shares of all segments
    /// add up to `cap`.
    pub(crate) fn share_of(&self, cap: u64, users: u32) -> u64 {
        let n = self.count;
        // Users go to segments by their number modulo the count.
        let users_of = |i: u32| {
            if users == 0 {
                1
            } else {
                u128::from(users.saturating_sub(i).div_ceil(n))
            }
        };
        let total: u128 = (0..n).map(users_of).sum();
        let cap = u128::from(cap);
        let floor = |i: u32| cap * users_of(i) / total;
        let fraction = |i: u32| cap * users_of(i) % total;
        let left = cap - (0..n).map(floor).sum::<u128>();
        let mut order: Vec<u32> = (0..n).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(fraction(i)), i));
        let bonus = order[..left as usize].contains(&self.index);
        (floor(self.index) + u128::from(bonus)) as u64
    }

    /// The drill-wide sequence number of this segment's request `local`.
    pub(crate) fn sequence(&self, local: u64) -> u64 {
        local * u64::from(self.count) + u64::from(self.index)
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Segment {
    type Err = SegmentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let form = || SegmentError::Form(s.to_owned());
        let (index, count) = s.split_once('/').ok_or_else(form)?;
        let index = index.trim().parse().map_err(|_| form())?;
        let count = count.trim().parse().map_err(|_| form())?;
        Segment::new(index, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/4".parse(), Ok(Segment { index: 2, count: 4 }));
        assert_eq!("0/1".parse(), Ok(Segment::WHOLE));
        assert!(matches!(
            "4/4".parse::<Segment>(),
            Err(SegmentError::Range { .. })
        ));
        assert!(matches!(
            "0/0".parse::<Segment>(),
            Err(SegmentError::Range { .. })
        ));
        assert!(matches!("1".parse::<Segment>(), Err(SegmentError::Form(_))));
        assert!(matches!(
            "a/2".parse::<Segment>(),
            Err(SegmentError::Form(_))
        ));
    }

    #[test]
    fn shares_and_sequences_partition() {
        for n in 1..=5u32 {
            let segments: Vec<Segment> = (0..n).map(|i| Segment::new(i, n).unwrap()).collect();
            for cap in [0u64, 1, 7, 10, 101] {
                for users in [0, 1, 3, 5, 64] {
                    let shares: Vec<u64> =
                        segments.iter().map(|s| s.share_of(cap, users)).collect();
                    assert_eq!(
                        shares.iter().sum::<u64>(),
                        cap,
                        "n={n} cap={cap} users={users}"
                    );
                    // A segment without users gets nothing while others have some.
                    if users > 0 && users < n {
                        assert_eq!(shares[users as usize..].iter().sum::<u64>(), 0);
                    }
                }
            }
            // In proportion to the users: 13 requests over 2, 2 and 1 users.
            if n == 3 {
                let shares: Vec<u64> = segments.iter().map(|s| s.share_of(13, 5)).collect();
                assert_eq!(shares, [5, 5, 3]);
            }
            let mut seen: Vec<u64> = segments
                .iter()
                .flat_map(|s| (0..10).map(|k| s.sequence(k)))
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..10 * u64::from(n)).collect::<Vec<_>>());
            let mut workers: Vec<u32> = segments
                .iter()
                .flat_map(|s| (0..3).map(|w| s.global_worker(w)))
                .collect();
            workers.sort_unstable();
            assert_eq!(workers, (0..3 * n).collect::<Vec<_>>());
        }
    }
}
