//! Drift statistics: two-sample tests, distances between distributions and
//! multiple-testing corrections.
//!
//! Every function is pure (inputs in, numbers out, no I/O or global state) and matches
//! a reference implementation that the drift benchmark uses:
//!
//! | function | reference |
//! | --- | --- |
//! | [`ks_2samp`], [`ks_2samp_sorted`] | `scipy.stats.ks_2samp(a, b)` (two-sided, `method='auto'`) |
//! | [`kstwo_sf`] | `scipy.stats.kstwo.sf(d, n)` |
//! | [`smirnov_sf`] | `scipy.special.smirnov(n, d)` |
//! | [`chi2_contingency`] | `scipy.stats.chi2_contingency(table, correction=True)` |
//! | [`chi2_homogeneity`] | the same on a 2 x K table, empty categories dropped |
//! | [`chi2_sf`], [`gammaincc`] | `scipy.stats.chi2.sf`, `scipy.special.gammaincc` |
//! | [`psi_numeric`], [`psi_from_counts`] | `shared/bench/drift.py` (NumPy) |
//! | [`wasserstein_distance`], [`wasserstein_from_counts`] | `scipy.stats.wasserstein_distance(a, b)` |
//! | [`jensen_shannon_distance`] | `scipy.spatial.distance.jensenshannon(p, q, base=2)` |
//! | [`bonferroni`], [`benjamini_hochberg`] | `statsmodels ... multipletests(p, method='bonferroni' / 'fdr_bh')[1]` |
//!
//! The golden tests in `core/tests/stats_golden.rs` compare against fixtures written by
//! `core/tests/fixtures/stats/make_fixtures.py` (SciPy, NumPy and statsmodels versions
//! recorded in each fixture), with the tolerances stated there.
//!
//! Missing values are the caller's business: the sample functions reject NaN with
//! [`StatsError::NanValue`] rather than guess a policy.

mod chi2;
mod dd;
mod distance;
mod error;
mod kolmogorov;
mod ks;
mod merge;
mod multitest;
mod psi;
mod special;
mod sum;

pub use chi2::{chi2_contingency, chi2_homogeneity, Chi2Result};
pub use distance::{jensen_shannon_distance, wasserstein_distance, wasserstein_from_counts};
pub use error::StatsError;
pub use kolmogorov::{kstwo_sf, kstwo_sf_fast, smirnov_sf, KS_FAST_P_MAX};
pub use ks::{
    ks_2samp, ks_2samp_sorted, ks_pvalue, ks_statistic_from_counts, KsMethod, KsResult, PValueMode,
    KS_FAST_LN_RTOL, KS_FAST_MIN_EN, KS_FAST_RTOL, KS_MAX_EXACT_N,
};
pub use multitest::{benjamini_hochberg, bonferroni, Correction};
pub use psi::{
    bin_counts, bin_counts_weighted, psi_from_counts, psi_numeric, quantile_bin_edges,
    quantile_bin_edges_from_counts, quantile_linear_sorted_counts, PSI_DEFAULT_BINS,
    PSI_DEFAULT_EPSILON,
};
pub use special::{chi2_sf, gammaincc};
// NumPy's summation order, for other modules that must match NumPy (performance).
pub(crate) use sum::pairwise_sum;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn results_and_errors_are_send_and_sync() {
        assert_send_sync::<KsResult>();
        assert_send_sync::<Chi2Result>();
        assert_send_sync::<StatsError>();
    }
}
