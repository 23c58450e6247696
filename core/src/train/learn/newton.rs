//! A damped, inexact Newton method for smooth convex objectives.
//!
//! Each step solves `H·s = −g` by preconditioned conjugate gradients (Jacobi
//! preconditioner) only as exactly as the current gradient warrants (forcing
//! term `min(0.5, √‖g‖)`, so the last steps are exact and convergence is
//! quadratic), then backtracks along `s` until the loss decreases enough
//! (Armijo). The objective supplies products with its Hessian, so a caller can
//! choose between an explicit matrix and a matrix-free product.

use serde::{Deserialize, Serialize};

/// A twice-differentiable convex objective in `dim()` parameters.
pub trait Objective {
    fn dim(&self) -> usize;
    /// The loss at `theta`.
    fn loss(&self, theta: &[f64]) -> f64;
    /// Loss and gradient (into `gradient`) at `theta`; remembers the curvature
    /// at `theta` for the next [`hessian_times`](Self::hessian_times) and
    /// [`hessian_diagonal`](Self::hessian_diagonal).
    fn prepare(&mut self, theta: &[f64], gradient: &mut [f64]) -> f64;
    /// `out = H·v` at the prepared point.
    fn hessian_times(&self, v: &[f64], out: &mut [f64]);
    /// The Hessian's diagonal at the prepared point.
    fn hessian_diagonal(&self, out: &mut [f64]);
}

/// How a solver run ended; goes into the training report.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Convergence {
    /// Newton steps taken.
    pub iterations: u64,
    /// Largest absolute component of the gradient of the mean loss at the solution.
    pub gradient_norm: f64,
    /// Whether `gradient_norm` reached the gradient tolerance within the iteration limit.
    pub converged: bool,
}

/// One solver iteration, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Iteration {
    pub iteration: u64,
    pub loss: f64,
    pub gradient_norm: f64,
}

/// When to stop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stopping {
    pub max_iterations: u64,
    /// Stop once the gradient's largest absolute component is at most this.
    pub gradient_tolerance: f64,
}

/// Minimises `objective` from `theta` (updated in place).
pub fn minimize(
    objective: &mut dyn Objective,
    theta: &mut [f64],
    stopping: Stopping,
    observe: &mut dyn FnMut(Iteration),
) -> Convergence {
    let dim = objective.dim();
    let mut gradient = vec![0.0; dim];
    let mut diagonal = vec![0.0; dim];
    let mut step = vec![0.0; dim];
    let mut trial = vec![0.0; dim];
    let mut iteration = 0;
    loop {
        let loss = objective.prepare(theta, &mut gradient);
        let gradient_norm = gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        observe(Iteration {
            iteration,
            loss,
            gradient_norm,
        });
        let converged = gradient_norm <= stopping.gradient_tolerance;
        if converged || iteration >= stopping.max_iterations || !loss.is_finite() {
            return Convergence {
                iterations: iteration,
                gradient_norm,
                converged,
            };
        }
        objective.hessian_diagonal(&mut diagonal);
        newton_direction(&*objective, &gradient, &diagonal, &mut step);
        let slope = dot(&gradient, &step);
        // Armijo backtracking; a step that cannot lower the loss means the
        // solution is as good as f64 allows.
        let mut alpha = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            for ((t, x), s) in trial.iter_mut().zip(&*theta).zip(&step) {
                *t = x + alpha * s;
            }
            if objective.loss(&trial) <= loss + 1e-4 * alpha * slope {
                accepted = true;
                break;
            }
            alpha *= 0.5;
        }
        if !accepted {
            return Convergence {
                iterations: iteration,
                gradient_norm,
                converged,
            };
        }
        theta.copy_from_slice(&trial);
        iteration += 1;
    }
}

/// An approximate solution of `H·s = −g`, always a descent direction.
fn newton_direction(objective: &dyn Objective, g: &[f64], diagonal: &[f64], s: &mut [f64]) {
    let norm = dot(g, g).sqrt();
    let tolerance = norm.sqrt().min(0.5) * norm;
    let precondition = |r: &[f64], z: &mut [f64]| {
        for ((z, r), d) in z.iter_mut().zip(r).zip(diagonal) {
            *z = if *d > 0.0 { r / d } else { *r };
        }
    };
    let dim = g.len();
    s.fill(0.0);
    let mut r: Vec<f64> = g.iter().map(|g| -g).collect();
    let mut z = vec![0.0; dim];
    let mut q = vec![0.0; dim];
    precondition(&r, &mut z);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    for _ in 0..dim.max(10) {
        if dot(&r, &r).sqrt() <= tolerance {
            break;
        }
        objective.hessian_times(&p, &mut q);
        let curvature = dot(&p, &q);
        if curvature <= 0.0 || !curvature.is_finite() {
            break;
        }
        let alpha = rz / curvature;
        for i in 0..dim {
            s[i] += alpha * p[i];
            r[i] -= alpha * q[i];
        }
        precondition(&r, &mut z);
        let rz_next = dot(&r, &z);
        let beta = rz_next / rz;
        rz = rz_next;
        for (p, z) in p.iter_mut().zip(&z) {
            *p = z + beta * *p;
        }
    }
    if dot(g, s) >= 0.0 {
        // No usable curvature (e.g. the first product was zero): scaled steepest descent.
        precondition(g, s);
        s.iter_mut().for_each(|x| *x = -*x);
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `½ xᵀAx − bᵀx + Σ softplus(x)`: convex, with a known stationary condition.
    struct Quadratic {
        a: [[f64; 2]; 2],
        b: [f64; 2],
        curvature: [f64; 2],
    }

    impl Objective for Quadratic {
        fn dim(&self) -> usize {
            2
        }
        fn loss(&self, x: &[f64]) -> f64 {
            let ax = [
                self.a[0][0] * x[0] + self.a[0][1] * x[1],
                self.a[1][0] * x[0] + self.a[1][1] * x[1],
            ];
            0.5 * dot(x, &ax) - dot(&self.b, x) + x.iter().map(|v| v.exp().ln_1p()).sum::<f64>()
        }
        fn prepare(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
            for i in 0..2 {
                let s = 1.0 / (1.0 + (-x[i]).exp());
                g[i] = self.a[i][0] * x[0] + self.a[i][1] * x[1] - self.b[i] + s;
                self.curvature[i] = s * (1.0 - s);
            }
            self.loss(x)
        }
        fn hessian_times(&self, v: &[f64], out: &mut [f64]) {
            for i in 0..2 {
                out[i] = self.a[i][0] * v[0] + self.a[i][1] * v[1] + self.curvature[i] * v[i];
            }
        }
        fn hessian_diagonal(&self, out: &mut [f64]) {
            for (i, out) in out.iter_mut().enumerate() {
                *out = self.a[i][i] + self.curvature[i];
            }
        }
    }

    fn problem() -> Quadratic {
        Quadratic {
            a: [[2.0, 0.5], [0.5, 1.0]],
            b: [3.0, -1.0],
            curvature: [0.0; 2],
        }
    }

    #[test]
    fn converges_quadratically_to_the_stationary_point() {
        let mut seen = Vec::new();
        let mut x = [0.0; 2];
        let stopping = Stopping {
            max_iterations: 50,
            gradient_tolerance: 1e-12,
        };
        let result = minimize(&mut problem(), &mut x, stopping, &mut |i| seen.push(i));
        assert!(result.converged, "{result:?}");
        assert!(result.iterations <= 8, "{result:?}");
        let mut g = [0.0; 2];
        problem().prepare(&x, &mut g);
        assert!(g.iter().all(|g| g.abs() <= 1e-12), "{g:?}");
        assert_eq!(seen.len() as u64, result.iterations + 1);
        assert!(seen.windows(2).all(|w| w[1].loss <= w[0].loss), "{seen:?}");
    }

    #[test]
    fn reports_when_the_iteration_limit_is_reached() {
        let mut x = [0.0; 2];
        let stopping = Stopping {
            max_iterations: 1,
            gradient_tolerance: 1e-14,
        };
        let result = minimize(&mut problem(), &mut x, stopping, &mut |_| {});
        assert_eq!(result.iterations, 1);
        assert!(!result.converged);
        assert!(result.gradient_norm > 1e-14);
    }
}
