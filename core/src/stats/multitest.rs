//! Multiple-testing corrections of p-values, matching
//! `statsmodels.stats.multitest.multipletests(p, method=...)[1]`.

use super::error::StatsError;

/// Which correction to apply to a family of p-values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// Leave the p-values as they are.
    None,
    /// Bonferroni: controls the family-wise error rate ([`bonferroni`]).
    Bonferroni,
    /// Benjamini–Hochberg: controls the false discovery rate ([`benjamini_hochberg`]).
    BenjaminiHochberg,
}

impl Correction {
    /// The adjusted p-values, in input order (see the functions of each variant).
    pub fn adjust(self, pvalues: &[f64]) -> Result<Vec<f64>, StatsError> {
        match self {
            Correction::None => {
                check_pvalues(pvalues)?;
                Ok(pvalues.to_vec())
            }
            Correction::Bonferroni => bonferroni(pvalues),
            Correction::BenjaminiHochberg => benjamini_hochberg(pvalues),
        }
    }
}

fn check_pvalues(pvalues: &[f64]) -> Result<(), StatsError> {
    match pvalues.iter().position(|p| !(0.0..=1.0).contains(p)) {
        Some(index) => Err(StatsError::InvalidPValue {
            index,
            value: pvalues[index],
        }),
        None => Ok(()),
    }
}

/// Bonferroni-adjusted p-values: `min(1, p_i * m)` for `m` tests
/// (`multipletests(p, method='bonferroni')[1]`).
///
/// Inputs: p-values in `[0, 1]` (an empty slice gives an empty result).
/// Output: adjusted p-values in input order. Errors: [`StatsError::InvalidPValue`].
pub fn bonferroni(pvalues: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_pvalues(pvalues)?;
    let m = pvalues.len() as f64;
    Ok(pvalues.iter().map(|p| (p * m).min(1.0)).collect())
}

/// Benjamini–Hochberg adjusted p-values (q-values)
/// (`multipletests(p, method='fdr_bh')[1]`): with the p-values sorted ascending,
/// `q_(k) = min_{j >= k} p_(j) / (j / m)`, clipped at 1, returned in input order.
///
/// Inputs: p-values in `[0, 1]` (an empty slice gives an empty result).
/// Output: adjusted p-values in input order; tied p-values get the same value.
/// Errors: [`StatsError::InvalidPValue`].
pub fn benjamini_hochberg(pvalues: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_pvalues(pvalues)?;
    let m = pvalues.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| pvalues[a].total_cmp(&pvalues[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = f64::INFINITY;
    for (rank, &idx) in order.iter().enumerate().rev() {
        let ecdf = (rank + 1) as f64 / m as f64;
        running = running.min(pvalues[idx] / ecdf);
        adjusted[idx] = running.min(1.0);
    }
    Ok(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_bh() {
        // p sorted: 0.01, 0.02, 0.03, 0.5 ; raw: 0.04, 0.04, 0.04, 0.5
        let q = benjamini_hochberg(&[0.5, 0.03, 0.01, 0.02]).expect("valid");
        let expected = [0.5, 0.04, 0.04, 0.04];
        for (a, b) in q.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{q:?}");
        }
    }

    #[test]
    fn bonferroni_clips_at_one() {
        assert_eq!(bonferroni(&[0.01, 0.4]).expect("valid"), vec![0.02, 0.8]);
        assert_eq!(bonferroni(&[0.6, 0.4]).expect("valid"), vec![1.0, 0.8]);
        assert!(bonferroni(&[f64::NAN]).is_err());
        assert!(benjamini_hochberg(&[1.5]).is_err());
        assert!(bonferroni(&[]).expect("valid").is_empty());
    }
}
