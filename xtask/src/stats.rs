//! Order statistics for timing samples: median, nearest-rank percentiles, and the block-median
//! noise estimate that baselines use as a noise band.

/// How many consecutive blocks [`block_noise_pct`] splits a run into.
pub const NOISE_BLOCKS: usize = 5;

/// A summary of samples (in the order they were taken).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// The smallest sample.
    pub min: f64,
    /// The median.
    pub median: f64,
    /// The 99th percentile (nearest rank).
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
    /// Half the spread of the block medians, as a percentage of the median (see
    /// [`block_noise_pct`]).
    pub noise_pct: f64,
}

/// Summarises samples taken in run order. Panics on an empty slice (a measurement that produced
/// nothing is a bug in the caller).
pub fn summarize(samples: &[f64]) -> Summary {
    assert!(!samples.is_empty(), "no samples to summarise");
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Summary {
        n: samples.len(),
        min: sorted[0],
        median: median_sorted(&sorted),
        p99: percentile_sorted(&sorted, 99.0),
        max: sorted[sorted.len() - 1],
        noise_pct: block_noise_pct(samples, NOISE_BLOCKS),
    }
}

/// The median of unsorted samples (NaN for none).
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    median_sorted(&sorted)
}

fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The nearest-rank percentile `p` (0–100) of sorted samples.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// How much the median moves between repetitions within one run: the samples (in run order)
/// are split into `blocks` consecutive blocks, and the result is half the range of the block
/// medians as a percentage of the overall median. Zero for fewer than two samples per block.
pub fn block_noise_pct(samples: &[f64], blocks: usize) -> f64 {
    let per_block = samples.len() / blocks.max(1);
    if per_block < 2 {
        return 0.0;
    }
    let medians: Vec<f64> = samples.chunks(per_block).take(blocks).map(median).collect();
    let (lo, hi) = min_max(&medians);
    let overall = median(samples);
    if overall <= 0.0 {
        return 0.0;
    }
    (hi - lo) / 2.0 / overall * 100.0
}

/// The smallest and largest of some values.
pub fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Per-block values of `f(block of a, block of b)` for two sample series taken in lockstep, e.g.
/// the ratio of block medians; used for the spread and noise of derived figures.
pub fn per_block(a: &[f64], b: &[f64], blocks: usize, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    per_block_with(a, b, blocks, median, f)
}

/// [`per_block`] with another statistic than the median.
pub fn per_block_with(
    a: &[f64],
    b: &[f64],
    blocks: usize,
    stat: impl Fn(&[f64]) -> f64,
    f: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let n = a.len().min(b.len());
    let per_block = (n / blocks.max(1)).max(1);
    a[..n]
        .chunks(per_block)
        .zip(b[..n].chunks(per_block))
        .take(blocks)
        .map(|(x, y)| f(stat(x), stat(y)))
        .collect()
}

/// The nearest-rank percentile `p` (0–100) of unsorted samples (NaN for none).
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile_sorted(&sorted, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentiles() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 5.0));
        assert_eq!(s.p99, 5.0);
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile_sorted(&sorted, 99.0), 99.0);
        assert_eq!(percentile_sorted(&sorted, 50.0), 50.0);
    }

    #[test]
    fn block_noise_is_zero_for_a_steady_run_and_grows_with_drift() {
        let steady = vec![10.0; 50];
        assert_eq!(block_noise_pct(&steady, 5), 0.0);
        // Blocks at 10, 10, 10, 10, 12: medians range over 2, half of it is 1 = 10 % of 10.
        let mut drift = vec![10.0; 40];
        drift.extend(vec![12.0; 10]);
        assert!((block_noise_pct(&drift, 5) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn per_block_ratios() {
        let a = vec![2.0; 10];
        let b = vec![1.0; 10];
        assert_eq!(per_block(&a, &b, 5, |x, y| x / y), vec![2.0; 5]);
    }
}
