//! The random numbers of ambient occlusion: one seeded generator per row.
//!
//! Each row starts its own generator from a seed derived from the row's
//! index alone, and draws from it pixel by pixel, left to right. So a row
//! renders to the same bytes in whichever process renders it, in whatever
//! order, under any process limit: every variant of the example, and the
//! sequential rendering, give the identical image.
//!
//! The generator is SplitMix64 (Steele, Lea and Flood, 2014), a few lines
//! written here rather than a dependency: its output is fixed by this code,
//! not by the version of a crate.

/// The golden-ratio increment of SplitMix64.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Mixed into every row's seed, so that row 0 does not start from state 0.
const IMAGE_SEED: u64 = 0x7070_726F_6365_7373; // "pprocess"

/// SplitMix64's output function: a bijective scrambling of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small deterministic random generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct RowRandom {
    state: u64,
}

impl RowRandom {
    /// The generator of row `row`.
    pub fn for_row(row: usize) -> Self {
        RowRandom {
            state: mix(IMAGE_SEED ^ row as u64),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// A random integer in `low..high` (like Python's
    /// `random.randrange(low, high)`); `high` must be greater than `low`.
    ///
    /// Uses the high bits of a 64x64-bit product: the bias for a range of
    /// a few hundred values is below 2^-55.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        assert!(low < high, "empty range {low}..{high}");
        let span = high.abs_diff(low);
        let offset = ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64;
        low.wrapping_add_unsigned(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_row_gives_the_same_numbers() {
        let mut first = RowRandom::for_row(7);
        let mut second = RowRandom::for_row(7);
        for _ in 0..100 {
            assert_eq!(first.next_u64(), second.next_u64());
        }
    }

    #[test]
    fn different_rows_give_different_numbers() {
        let draws = |row| {
            let mut random = RowRandom::for_row(row);
            (0..8).map(|_| random.next_u64()).collect::<Vec<_>>()
        };
        assert_ne!(draws(0), draws(1));
    }

    #[test]
    fn range_stays_in_bounds_and_reaches_both_ends() {
        let mut random = RowRandom::for_row(3);
        let draws: Vec<i64> = (0..20_000).map(|_| random.range(-100, 100)).collect();
        assert!(draws.iter().all(|n| (-100..100).contains(n)));
        assert!(draws.contains(&-100));
        assert!(draws.contains(&99));
    }
}
