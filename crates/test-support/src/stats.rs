//! Percentiles of measured values, one rule for every bench and report: nearest rank.

/// The nearest-rank percentile of `sorted` (ascending) at `fraction` (0 to 1): the smallest
/// value that at least that fraction of the values do not exceed, so `1.0` is the maximum
/// and `0.5` of an even count is the lower of the two middle values. `None` if there are
/// none. Nearest rank, not interpolation: every figure reported is a value measured.
#[must_use]
pub fn nearest_rank<T: Copy>(sorted: &[T], fraction: f64) -> Option<T> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // ceil(fraction * n), between 1 and n; computed in f64, exact for any count a run holds.
    let rank = (fraction.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_the_nearest_rank_of_the_sorted_values() {
        assert_eq!(nearest_rank::<u32>(&[], 0.5), None);
        let hundred: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&hundred, 0.5), Some(50));
        assert_eq!(nearest_rank(&hundred, 0.99), Some(99));
        assert_eq!(nearest_rank(&hundred, 1.0), Some(100));
        assert_eq!(nearest_rank(&hundred, 0.0), Some(1));
        let ten: Vec<u32> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 0.99), Some(10));
        assert_eq!(nearest_rank(&ten, 0.5), Some(5));
        assert_eq!(nearest_rank(&[1, 2, 3], 0.5), Some(2));
        assert_eq!(nearest_rank(&[7], 0.99), Some(7));
        // Out of range is clamped.
        assert_eq!(nearest_rank(&ten, 1.5), Some(10));
        assert_eq!(nearest_rank(&ten, -1.0), Some(1));
    }

    #[test]
    fn floats_work_too() {
        assert_eq!(nearest_rank(&[0.5, 1.5, 2.5, 3.5], 0.75), Some(2.5));
    }
}
