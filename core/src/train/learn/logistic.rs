//! L2-regularised logistic regression (binary and multinomial) fitted by
//! Newton's method on the *mean* loss, behind linfa's `Fit`/`Predict` traits.
//!
//! The objective is scikit-learn's: `(1/n)·Σ loss + l2/(2n)·‖w‖²` (intercepts
//! are not penalised), the same optimum as `Σ loss + l2/2·‖w‖²` with
//! `C = 1/l2`. Binary problems with up to [`DENSE_HESSIAN_LIMIT`] parameters
//! build the Hessian explicitly from the sparse rows (cost: rows × non-zeros²
//! per step, independent of the number of one-hot columns); larger and
//! multinomial problems use matrix-free Hessian products.

use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use linfa::ParamGuard;
use ndarray::{Array1, Array2};

use super::newton::{self, Convergence, Iteration, Objective, Stopping};
use super::rows::SparseRows;
use super::LearnError;

/// Binary problems with at most this many parameters (features + intercept)
/// get an explicit Hessian (at most 32 MiB).
pub const DENSE_HESSIAN_LIMIT: usize = 2048;

/// Checked hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticRegressionValidParams {
    l2: f64,
    max_iterations: u64,
    gradient_tolerance: f64,
}

/// Unchecked hyper-parameters; [`ParamGuard::check`] validates them.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticRegressionParams(LogisticRegressionValidParams);

impl Default for LogisticRegressionParams {
    fn default() -> Self {
        LogisticRegressionParams(LogisticRegressionValidParams {
            l2: 1.0,
            max_iterations: 100,
            gradient_tolerance: 1e-4,
        })
    }
}

impl LogisticRegressionParams {
    /// L2 penalty strength (scikit-learn's `1/C`).
    pub fn l2(mut self, l2: f64) -> Self {
        self.0.l2 = l2;
        self
    }

    /// Maximum Newton steps.
    pub fn max_iterations(mut self, max_iterations: u64) -> Self {
        self.0.max_iterations = max_iterations;
        self
    }

    /// Stop when no component of the mean-loss gradient exceeds this.
    pub fn gradient_tolerance(mut self, tolerance: f64) -> Self {
        self.0.gradient_tolerance = tolerance;
        self
    }
}

impl ParamGuard for LogisticRegressionParams {
    type Checked = LogisticRegressionValidParams;
    type Error = LearnError;

    fn check_ref(&self) -> Result<&Self::Checked, LearnError> {
        let p = &self.0;
        if !(p.l2.is_finite() && p.l2 >= 0.0) {
            return Err(LearnError::invalid(
                "l2",
                p.l2,
                "must be a finite number ≥ 0",
            ));
        }
        if p.max_iterations == 0 {
            return Err(LearnError::invalid(
                "maxIterations",
                p.max_iterations,
                "must be ≥ 1",
            ));
        }
        if !(p.gradient_tolerance.is_finite() && p.gradient_tolerance > 0.0) {
            return Err(LearnError::invalid(
                "gradientTolerance",
                p.gradient_tolerance,
                "must be a finite number > 0",
            ));
        }
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked, LearnError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted model over the classes present in training.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedLogisticRegression {
    /// The labels seen in training, increasing.
    pub classes: Vec<usize>,
    /// Binary: one row, the logit of `classes[1]`. Multinomial: one row per class.
    pub weights: Array2<f64>,
    pub intercepts: Array1<f64>,
    pub convergence: Convergence,
}

impl<T> Fit<SparseRows, T, LearnError> for LogisticRegressionValidParams
where
    T: AsSingleTargets<Elem = usize>,
{
    type Object = FittedLogisticRegression;

    fn fit(&self, dataset: &DatasetBase<SparseRows, T>) -> Result<Self::Object, LearnError> {
        self.fit_observed(dataset, &mut |_| {})
    }
}

impl LogisticRegressionValidParams {
    /// [`Fit::fit`], telling `observe` about every Newton iteration.
    pub fn fit_observed<T: AsSingleTargets<Elem = usize>>(
        &self,
        dataset: &DatasetBase<SparseRows, T>,
        observe: &mut dyn FnMut(Iteration),
    ) -> Result<FittedLogisticRegression, LearnError> {
        let x = dataset.records();
        let labels = dataset.as_single_targets();
        let (classes, y) = super::dense_labels(x.n_rows(), labels.iter().copied())?;
        let stopping = Stopping {
            max_iterations: self.max_iterations,
            gradient_tolerance: self.gradient_tolerance,
        };
        let d = x.n_cols();
        if classes.len() == 2 {
            let mut objective = Binary::new(x, &y, self.l2, d < DENSE_HESSIAN_LIMIT);
            let mut theta = vec![0.0; d + 1];
            let convergence = newton::minimize(&mut objective, &mut theta, stopping, observe);
            Ok(FittedLogisticRegression {
                classes,
                weights: Array2::from_shape_vec((1, d), theta[..d].to_vec())
                    .map_err(linfa::Error::from)?,
                intercepts: Array1::from(vec![theta[d]]),
                convergence,
            })
        } else {
            let k = classes.len();
            let mut objective = Multinomial::new(x, &y, k, self.l2);
            let mut theta = vec![0.0; (d + 1) * k];
            let convergence = newton::minimize(&mut objective, &mut theta, stopping, observe);
            // θ is feature-major (`θ[c·k + class]`); the model is class-major.
            let weights = Array2::from_shape_fn((k, d), |(class, c)| theta[c * k + class]);
            // Adding a constant to every intercept changes no probability;
            // centred intercepts make the solution unique.
            let intercepts = Array1::from_iter((0..k).map(|class| theta[d * k + class]));
            let mean = intercepts.mean().unwrap_or_default();
            Ok(FittedLogisticRegression {
                classes,
                weights,
                intercepts: intercepts - mean,
                convergence,
            })
        }
    }
}

impl PredictInplace<SparseRows, Array1<usize>> for FittedLogisticRegression {
    /// The most probable class of each row.
    fn predict_inplace(&self, x: &SparseRows, y: &mut Array1<usize>) {
        let mut logits = vec![0.0; self.weights.nrows()];
        for (r, y) in y.iter_mut().enumerate() {
            let (columns, values) = x.row(r);
            for (k, logit) in logits.iter_mut().enumerate() {
                *logit = self.intercepts[k]
                    + columns
                        .iter()
                        .zip(values)
                        .map(|(&c, &v)| v * self.weights[[k, c as usize]])
                        .sum::<f64>();
            }
            let best = if logits.len() == 1 {
                usize::from(logits[0] > 0.0)
            } else {
                (0..logits.len())
                    .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                    .unwrap_or(0)
            };
            *y = self.classes[best];
        }
    }

    fn default_target(&self, x: &SparseRows) -> Array1<usize> {
        Array1::zeros(x.n_rows())
    }
}

/// Binary objective; θ = (w, b), labels 0/1.
struct Binary<'a> {
    x: &'a SparseRows,
    y: &'a [usize],
    l2: f64,
    /// `p(1 − p)` per row at the prepared point.
    curvature: Vec<f64>,
    /// The explicit Hessian (row-major, `dim²`), when small enough.
    hessian: Option<Vec<f64>>,
    scratch: std::cell::RefCell<Vec<f64>>,
}

impl<'a> Binary<'a> {
    /// `dense`: build the Hessian explicitly (else matrix-free products).
    fn new(x: &'a SparseRows, y: &'a [usize], l2: f64, dense: bool) -> Self {
        let dim = x.n_cols() + 1;
        Binary {
            x,
            y,
            l2,
            curvature: vec![0.0; x.n_rows()],
            hessian: dense.then(|| vec![0.0; dim * dim]),
            scratch: std::cell::RefCell::new(vec![0.0; x.n_rows()]),
        }
    }

    fn n(&self) -> f64 {
        self.x.n_rows() as f64
    }

    /// `z_r = x_r·w + b` into the scratch buffer.
    fn logits(&self, theta: &[f64], z: &mut [f64]) {
        let d = self.x.n_cols();
        self.x.dot_rows(&theta[..d], z);
        z.iter_mut().for_each(|z| *z += theta[d]);
    }

    fn penalty(&self, theta: &[f64]) -> f64 {
        let w = &theta[..self.x.n_cols()];
        0.5 * self.l2 * newton::dot(w, w) / self.n()
    }

    /// `(X̃ᵀ·D·X̃ + l2·I_w) / n`, built from each row's non-zeros.
    fn build_hessian(&self, h: &mut [f64]) {
        let d = self.x.n_cols();
        let dim = d + 1;
        h.fill(0.0);
        for (r, &weight) in self.curvature.iter().enumerate() {
            let (columns, values) = self.x.row(r);
            for (i, (&ci, &vi)) in columns.iter().zip(values).enumerate() {
                let a = weight * vi;
                let row = &mut h[ci as usize * dim..(ci as usize + 1) * dim];
                for (&cj, &vj) in columns[i..].iter().zip(&values[i..]) {
                    row[cj as usize] += a * vj;
                }
                row[d] += a;
            }
            h[d * dim + d] += weight;
        }
        let n = self.n();
        for i in 0..dim {
            for j in i..dim {
                let v = h[i * dim + j] / n + if i == j && i < d { self.l2 / n } else { 0.0 };
                h[i * dim + j] = v;
                h[j * dim + i] = v;
            }
        }
    }
}

impl Objective for Binary<'_> {
    fn dim(&self) -> usize {
        self.x.n_cols() + 1
    }

    fn loss(&self, theta: &[f64]) -> f64 {
        let mut z = self.scratch.borrow_mut();
        self.logits(theta, &mut z);
        let sum: f64 = z
            .iter()
            .zip(self.y)
            .map(|(&z, &y)| softplus(z) - if y == 1 { z } else { 0.0 })
            .sum();
        sum / self.n() + self.penalty(theta)
    }

    fn prepare(&mut self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let d = self.x.n_cols();
        let n = self.n();
        let mut z = std::mem::take(&mut *self.scratch.borrow_mut());
        self.logits(theta, &mut z);
        let mut sum = 0.0;
        for ((z, &y), curvature) in z.iter_mut().zip(self.y).zip(&mut self.curvature) {
            let p = sigmoid(*z);
            sum += softplus(*z) - if y == 1 { *z } else { 0.0 };
            *curvature = p * (1.0 - p);
            *z = p - y as f64; // the residual, reused for the gradient
        }
        gradient.fill(0.0);
        self.x.add_transposed(&z, &mut gradient[..d]);
        gradient[d] = z.iter().sum();
        for (i, g) in gradient.iter_mut().enumerate() {
            *g = (*g + if i < d { self.l2 * theta[i] } else { 0.0 }) / n;
        }
        *self.scratch.borrow_mut() = z;
        if let Some(mut h) = self.hessian.take() {
            self.build_hessian(&mut h);
            self.hessian = Some(h);
        }
        sum / n + self.penalty(theta)
    }

    fn hessian_times(&self, v: &[f64], out: &mut [f64]) {
        let dim = self.dim();
        if let Some(h) = &self.hessian {
            for (out, row) in out.iter_mut().zip(h.chunks_exact(dim)) {
                *out = newton::dot(row, v);
            }
            return;
        }
        let d = dim - 1;
        let n = self.n();
        let mut u = self.scratch.borrow_mut();
        self.logits(v, &mut u);
        u.iter_mut().zip(&self.curvature).for_each(|(u, c)| *u *= c);
        out.fill(0.0);
        self.x.add_transposed(&u, &mut out[..d]);
        out[d] = u.iter().sum();
        for (i, o) in out.iter_mut().enumerate() {
            *o = (*o + if i < d { self.l2 * v[i] } else { 0.0 }) / n;
        }
    }

    fn hessian_diagonal(&self, out: &mut [f64]) {
        let dim = self.dim();
        if let Some(h) = &self.hessian {
            for (i, out) in out.iter_mut().enumerate() {
                *out = h[i * dim + i];
            }
            return;
        }
        let d = dim - 1;
        out.fill(0.0);
        for (r, &c) in self.curvature.iter().enumerate() {
            let (columns, values) = self.x.row(r);
            for (&j, &v) in columns.iter().zip(values) {
                out[j as usize] += c * v * v;
            }
            out[d] += c;
        }
        let n = self.n();
        for (i, o) in out.iter_mut().enumerate() {
            *o = (*o + if i < d { self.l2 } else { 0.0 }) / n;
        }
    }
}

/// Multinomial objective over `k` classes; θ is feature-major: `θ[c·k + class]`,
/// with the intercepts as feature `d`.
struct Multinomial<'a> {
    x: &'a SparseRows,
    y: &'a [usize],
    k: usize,
    l2: f64,
    /// Class probabilities per row (`n × k`) at the prepared point.
    probabilities: Vec<f64>,
}

impl<'a> Multinomial<'a> {
    fn new(x: &'a SparseRows, y: &'a [usize], k: usize, l2: f64) -> Self {
        Multinomial {
            x,
            y,
            k,
            l2,
            probabilities: vec![0.0; x.n_rows() * k],
        }
    }

    fn n(&self) -> f64 {
        self.x.n_rows() as f64
    }

    /// Row `r`'s logits into `z` (length k).
    fn logits(&self, theta: &[f64], r: usize, z: &mut [f64]) {
        let k = self.k;
        let d = self.x.n_cols();
        z.copy_from_slice(&theta[d * k..(d + 1) * k]);
        let (columns, values) = self.x.row(r);
        for (&c, &v) in columns.iter().zip(values) {
            let w = &theta[c as usize * k..(c as usize + 1) * k];
            z.iter_mut().zip(w).for_each(|(z, w)| *z += v * w);
        }
    }

    /// `out += a ⊗ x̃_r` for row `r`'s features and the intercept.
    fn add_outer(&self, r: usize, a: &[f64], out: &mut [f64]) {
        let k = self.k;
        let d = self.x.n_cols();
        let (columns, values) = self.x.row(r);
        for (&c, &v) in columns.iter().zip(values) {
            let o = &mut out[c as usize * k..(c as usize + 1) * k];
            o.iter_mut().zip(a).for_each(|(o, a)| *o += v * a);
        }
        out[d * k..].iter_mut().zip(a).for_each(|(o, a)| *o += a);
    }

    /// Adds the penalty's term to `out` and divides by n.
    fn finish(&self, theta: &[f64], out: &mut [f64]) {
        let penalised = self.x.n_cols() * self.k;
        let n = self.n();
        for (i, o) in out.iter_mut().enumerate() {
            *o =
                (*o + if i < penalised {
                    self.l2 * theta[i]
                } else {
                    0.0
                }) / n;
        }
    }

    fn penalty(&self, theta: &[f64]) -> f64 {
        let w = &theta[..self.x.n_cols() * self.k];
        0.5 * self.l2 * newton::dot(w, w) / self.n()
    }
}

impl Objective for Multinomial<'_> {
    fn dim(&self) -> usize {
        (self.x.n_cols() + 1) * self.k
    }

    fn loss(&self, theta: &[f64]) -> f64 {
        let mut z = vec![0.0; self.k];
        let mut sum = 0.0;
        for (r, &y) in self.y.iter().enumerate() {
            self.logits(theta, r, &mut z);
            sum += log_sum_exp(&z) - z[y];
        }
        sum / self.n() + self.penalty(theta)
    }

    fn prepare(&mut self, theta: &[f64], gradient: &mut [f64]) -> f64 {
        let k = self.k;
        let mut probabilities = std::mem::take(&mut self.probabilities);
        let mut residual = vec![0.0; k];
        let mut sum = 0.0;
        gradient.fill(0.0);
        for (r, (&y, p)) in self
            .y
            .iter()
            .zip(probabilities.chunks_exact_mut(k))
            .enumerate()
        {
            self.logits(theta, r, p);
            let lse = log_sum_exp(p);
            sum += lse - p[y];
            p.iter_mut().for_each(|z| *z = (*z - lse).exp());
            residual.copy_from_slice(p);
            residual[y] -= 1.0;
            self.add_outer(r, &residual, gradient);
        }
        self.probabilities = probabilities;
        self.finish(theta, gradient);
        sum / self.n() + self.penalty(theta)
    }

    fn hessian_times(&self, v: &[f64], out: &mut [f64]) {
        let k = self.k;
        let mut u = vec![0.0; k];
        out.fill(0.0);
        for (r, p) in self.probabilities.chunks_exact(k).enumerate() {
            self.logits(v, r, &mut u);
            let mean = newton::dot(p, &u);
            u.iter_mut().zip(p).for_each(|(u, p)| *u = p * (*u - mean));
            self.add_outer(r, &u, out);
        }
        self.finish(v, out);
    }

    fn hessian_diagonal(&self, out: &mut [f64]) {
        let k = self.k;
        let d = self.x.n_cols();
        out.fill(0.0);
        for (r, p) in self.probabilities.chunks_exact(k).enumerate() {
            let (columns, values) = self.x.row(r);
            for (&c, &v) in columns.iter().zip(values) {
                for (class, p) in p.iter().enumerate() {
                    out[c as usize * k + class] += p * (1.0 - p) * v * v;
                }
            }
            for (class, p) in p.iter().enumerate() {
                out[d * k + class] += p * (1.0 - p);
            }
        }
        let ones = vec![1.0; out.len()];
        self.finish(&ones, out);
    }
}

fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn log_sum_exp(z: &[f64]) -> f64 {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn problem() -> (SparseRows, Vec<usize>) {
        let x = array![
            [0.5, 1.0, 0.0],
            [-1.0, 0.0, 1.0],
            [2.0, 1.0, 0.0],
            [0.1, 0.0, 1.0],
            [-0.3, 1.0, 0.0],
            [1.5, 0.0, 1.0],
            [-2.0, 1.0, 0.0],
            [0.7, 0.0, 1.0]
        ];
        (
            SparseRows::from_dense(x.view()),
            vec![1, 0, 1, 0, 0, 1, 0, 1],
        )
    }

    fn solve(objective: &mut dyn Objective) -> (Vec<f64>, Convergence) {
        let mut theta = vec![0.0; objective.dim()];
        let stopping = Stopping {
            max_iterations: 50,
            gradient_tolerance: 1e-12,
        };
        let c = newton::minimize(objective, &mut theta, stopping, &mut |_| {});
        (theta, c)
    }

    #[test]
    fn explicit_and_matrix_free_hessians_agree() {
        let (x, y) = problem();
        let (dense, a) = solve(&mut Binary::new(&x, &y, 0.5, true));
        let (free, b) = solve(&mut Binary::new(&x, &y, 0.5, false));
        assert!(a.converged && b.converged, "{a:?} {b:?}");
        for (d, f) in dense.iter().zip(&free) {
            assert!((d - f).abs() < 1e-10, "{dense:?} vs {free:?}");
        }
    }

    #[test]
    fn a_two_class_multinomial_is_the_binary_model() {
        // Softmax over two classes with a penalty on both rows: at the optimum
        // w₁ = −w₀, so w₁ − w₀ is the binary weight vector at half the penalty.
        let (x, y) = problem();
        let (binary, _) = solve(&mut Binary::new(&x, &y, 0.5, true));
        let (multi, c) = solve(&mut Multinomial::new(&x, &y, 2, 1.0));
        assert!(c.converged, "{c:?}");
        for (i, b) in binary.iter().enumerate() {
            let difference = multi[i * 2 + 1] - multi[i * 2];
            assert!((difference - b).abs() < 1e-8, "{i}: {difference} vs {b}");
        }
    }
}
