//! Transferability estimates computed on frozen features: LogME (You, Liu, Wang, Long, ICML
//! 2021: the evidence of a Bayesian linear model of the one-hot targets, maximised by its
//! fixed point) and the H-score (Bao et al. 2019) with a Ledoit–Wolf shrunk feature
//! covariance (Ibrahim, Ponomareva, Mazumder 2022). The formulas, step by step, are those of
//! `scripts/golden/make_transferability_golden.py`, whose NumPy/scikit-learn numbers the
//! tests match to 1e-6.
//!
//! Both work on the Gram matrix of the smaller side — `FᵀF` (d × d) when there are at least as
//! many rows as dimensions, `FFᵀ` (n × n) otherwise, which has the same non-zero spectrum — so
//! a ranking on a few hundred rows of 768-dimensional features decomposes a few-hundred-square
//! matrix, not a 768-square one. LogME's fixed point then runs on the spectrum alone (O(r) per
//! iteration); the H-score solves with a Cholesky factor of the shrunk covariance (or, with
//! fewer rows, of `aI + bFFᵀ`: the Woodbury identity), and only a covariance without shrinkage
//! falls back to NumPy's eigenvalue pseudo-inverse.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Rows of features, `n × d` row-major, as f64.
fn matrix(x: &[f32], n: usize, d: usize) -> DMatrix<f64> {
    DMatrix::from_fn(n, d, |i, j| x[i * d + j] as f64)
}

/// The classes present in `y`, sorted.
fn classes(y: &[u32]) -> Vec<u32> {
    let mut c: Vec<u32> = y.to_vec();
    c.sort_unstable();
    c.dedup();
    c
}

/// `1` where `y` is `c`, else `0`.
fn indicator(y: &[u32], c: u32) -> DVector<f64> {
    DVector::from_iterator(y.len(), y.iter().map(|&l| if l == c { 1.0 } else { 0.0 }))
}

/// The Gram matrix of the smaller side of `f`: `FFᵀ` when `n < d` (then `true`), else `FᵀF`.
fn small_gram(f: &DMatrix<f64>) -> (DMatrix<f64>, bool) {
    let (n, d) = f.shape();
    if n < d {
        (f * f.transpose(), true)
    } else {
        (f.tr_mul(f), false)
    }
}

/// LogME of features `x` (`n × d`) for the labels `y`: the mean over the classes of the
/// per-row log evidence of a linear model of the class's one-hot target. Higher is better.
///
/// With `FᵀF = V diag(s) Vᵀ` and `z = Vᵀ Fᵀ t`, the posterior mean is `m = V w`,
/// `w_i = β z_i / (α + β s_i)`, so `|m|² = Σ w_i²` and `|Fm − t|² = |t|² − 2 z·w + Σ s_i w_i²`.
/// From `FFᵀ = U diag(s) Uᵀ` instead (fewer rows than dimensions), `z_i = √s_i · u_iᵀ t` and
/// `|Fm − t|² = Σ (u_iᵀ t · α / (α + β s_i))²` over the complete basis `U`; the `d − n`
/// eigenvalues `FᵀF` has beyond those are zero.
pub fn logme(x: &[f32], n: usize, d: usize, y: &[u32]) -> f64 {
    let f = matrix(x, n, d);
    let (gram, by_rows) = small_gram(&f);
    let eig = SymmetricEigen::new(gram);
    let s: Vec<f64> = eig.eigenvalues.iter().map(|&v| v.max(0.0)).collect();
    let r = s.len();
    let nf = n as f64;
    let cs = classes(y);
    let mut total = 0.0;
    for &c in &cs {
        let t = indicator(y, c);
        let tt = t.norm_squared();
        // u_iᵀ t (by rows) or z_i = v_iᵀ Fᵀ t.
        let proj = if by_rows {
            eig.eigenvectors.tr_mul(&t)
        } else {
            eig.eigenvectors.tr_mul(&f.tr_mul(&t))
        };
        let z: Vec<f64> = if by_rows {
            (0..r).map(|i| s[i].sqrt() * proj[i]).collect()
        } else {
            proj.iter().copied().collect()
        };
        // |m|² and |Fm − t|² at (α, β).
        let fit = |alpha: f64, beta: f64| -> (f64, f64) {
            let (mut mm, mut res, mut zw, mut sww) = (0.0, 0.0, 0.0, 0.0);
            for i in 0..r {
                let w = beta * z[i] / (alpha + beta * s[i]);
                mm += w * w;
                if by_rows {
                    let q = proj[i] * alpha / (alpha + beta * s[i]);
                    res += q * q;
                } else {
                    zw += z[i] * w;
                    sww += s[i] * w * w;
                }
            }
            if !by_rows {
                res = tt - 2.0 * zw + sww;
            }
            (mm, res)
        };
        let (mut alpha, mut beta) = (1.0f64, 1.0f64);
        for _ in 0..100 {
            let gamma: f64 = s.iter().map(|&si| beta * si / (alpha + beta * si)).sum();
            let (mm, res) = fit(alpha, beta);
            let (a2, b2) = (gamma / mm.max(1e-12), (nf - gamma) / res.max(1e-12));
            let done = ((a2 / b2) - alpha / beta).abs() / (alpha / beta) < 1e-3;
            alpha = a2;
            beta = b2;
            if done {
                break;
            }
        }
        let (mm, res) = fit(alpha, beta);
        let log_det: f64 = s.iter().map(|&si| (alpha + beta * si).ln()).sum::<f64>() + (d - r) as f64 * alpha.ln();
        let evidence = d as f64 / 2.0 * alpha.ln() + nf / 2.0 * beta.ln()
            - 0.5 * log_det
            - beta / 2.0 * res
            - alpha / 2.0 * mm
            - nf / 2.0 * (2.0 * std::f64::consts::PI).ln();
        total += evidence / nf;
    }
    total / cs.len().max(1) as f64
}

/// scikit-learn's Ledoit–Wolf shrinkage of centred rows `x` (`n × d`): the coefficient of
/// `(1 − δ)·S + δ·(tr S / d)·I`, S the (1/n) covariance. `gram` is either Gram matrix of `x`
/// (`XᵀX` and `XXᵀ` have the same Frobenius norm); the other sums are O(nd).
fn ledoit_wolf_shrinkage(x: &DMatrix<f64>, gram: &DMatrix<f64>) -> f64 {
    let (n, d) = x.shape();
    if d == 1 {
        return 0.0;
    }
    let nf = n as f64;
    let trace_sum: f64 = x.iter().map(|v| v * v).sum::<f64>() / nf;
    let mu = trace_sum / d as f64;
    // Σ_jk (Σ_i x_ij² x_ik²) = Σ_i (Σ_j x_ij²)².
    let beta_sum: f64 = x.row_iter().map(|r| r.norm_squared().powi(2)).sum();
    let delta_sum = gram.norm_squared() / (nf * nf);
    let beta = 1.0 / (d as f64 * nf) * (beta_sum / nf - delta_sum);
    let delta = (delta_sum - 2.0 * mu * trace_sum + d as f64 * mu * mu) / d as f64;
    let beta = beta.min(delta);
    if beta == 0.0 {
        0.0
    } else {
        beta / delta
    }
}

/// The H-score of features `x` (`n × d`) for the labels `y`, with the Ledoit–Wolf shrunk
/// feature covariance: `tr(Σ_f⁻¹ Σ_g)`, `Σ_g` the covariance of the rows replaced by their
/// class means (a pseudo-inverse when `Σ_f` is singular). Higher is better.
///
/// `Σ_g = Σ_c (n_c/n) m_c m_cᵀ` (m_c the centred class means), so the trace is
/// `Σ_c (n_c/n) m_cᵀ Σ_f⁻¹ m_c`. With `Σ_f = aI + bFᵀF` and `m_c = Fᵀe_c / n_c` (e_c the
/// class's indicator), `m_cᵀ Σ_f⁻¹ m_c = e_cᵀ K (aI + bK)⁻¹ e_c / n_c²`, K = FFᵀ: an n × n
/// solve when there are fewer rows than dimensions.
pub fn hscore(x: &[f32], n: usize, d: usize, y: &[u32]) -> f64 {
    let mut f = matrix(x, n, d);
    let nf = n as f64;
    for j in 0..d {
        let mean = f.column(j).sum() / nf;
        f.column_mut(j).add_scalar_mut(-mean);
    }
    let (gram, by_rows) = small_gram(&f);
    let shrink = ledoit_wolf_shrinkage(&f, &gram);
    let mu = gram.trace() / nf / d as f64;
    let (a, b) = (shrink * mu, (1.0 - shrink) / nf);
    let cs = classes(y);
    if a > 1e-10 * mu {
        let m = &gram * b + DMatrix::<f64>::identity(gram.nrows(), gram.nrows()) * a;
        if let Some(chol) = m.cholesky() {
            return cs
                .iter()
                .map(|&c| {
                    let e = indicator(y, c);
                    let nc = e.sum();
                    if by_rows {
                        (&gram * &e).dot(&chol.solve(&e)) / (nf * nc)
                    } else {
                        let mc = f.tr_mul(&e) / nc;
                        nc / nf * mc.dot(&chol.solve(&mc))
                    }
                })
                .sum();
        }
    }
    hscore_pinv(&f, y, shrink)
}

/// The H-score through NumPy's `pinv(hermitian=True)` of the (barely shrunk) covariance of the
/// centred rows `f`: eigenvalues below max(n, d)·ε·|λ|max are dropped.
fn hscore_pinv(f: &DMatrix<f64>, y: &[u32], shrink: f64) -> f64 {
    let (n, d) = f.shape();
    let nf = n as f64;
    let emp = f.tr_mul(f) / nf;
    let mu = emp.trace() / d as f64;
    let mut sf = emp * (1.0 - shrink);
    for i in 0..d {
        sf[(i, i)] += shrink * mu;
    }
    let mut sg = DMatrix::<f64>::zeros(d, d);
    for c in classes(y) {
        let e = indicator(y, c);
        let nc = e.sum();
        let mc = f.tr_mul(&e) / nc;
        sg += &mc * mc.transpose() * (nc / nf);
    }
    let eig = SymmetricEigen::new(sf);
    let top = eig.eigenvalues.iter().fold(0.0f64, |acc, &v| acc.max(v.abs()));
    let cutoff = d as f64 * f64::EPSILON * top;
    let v = &eig.eigenvectors;
    // tr(V diag(1/λ) Vᵀ Σ_g) = Σ_i (1/λ_i) v_iᵀ Σ_g v_i
    (0..d)
        .filter(|&i| eig.eigenvalues[i].abs() > cutoff)
        .map(|i| {
            let vi = v.column(i);
            (vi.transpose() * &sg * vi)[(0, 0)] / eig.eigenvalues[i]
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshrunk_singular_covariance_takes_the_pseudo_inverse() {
        // Two rows, one per class, mirror images about their mean: Ledoit–Wolf's numerator is
        // Σ_i |x_i|⁴ / n − |XᵀX|²_F / n² = a² − a² = 0 (a = |x|² after centring), so there is no
        // shrinkage and Σ_f = x xᵀ has rank 1. Each row is its class mean, so Σ_g = Σ_f and
        // H = tr(Σ_f⁺ Σ_f) = rank = 1 (worked by hand).
        let x = [1.0f32, 2.0, 3.0, 0.0, 1.0, 1.0, 2.0, 0.0];
        let f = {
            let mut f = matrix(&x, 2, 4);
            for j in 0..4 {
                let m = f.column(j).sum() / 2.0;
                f.column_mut(j).add_scalar_mut(-m);
            }
            f
        };
        assert_eq!(ledoit_wolf_shrinkage(&f, &small_gram(&f).0), 0.0);
        let h = hscore(&x, 2, 4, &[0, 1]);
        assert!((h - 1.0).abs() < 1e-9, "{h}");
    }

    #[test]
    fn both_gram_sides_give_the_same_logme() {
        // F (6 × 4) goes through the d × d side; [F, 0] (6 × 8, four zero columns) through the
        // n × n side. Zero columns add only zero eigenvalues and leave the fixed point alone,
        // so the evidence must be the same (worked below).
        let (n, d) = (6usize, 4usize);
        let x: Vec<f32> = (0..n * d).map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0).collect();
        let y = [0u32, 1, 0, 1, 1, 0];
        // d = 4 < n = 6: the d × d side. Pad to 8 dimensions (> n): the n × n side.
        let mut padded = vec![0f32; n * 8];
        for i in 0..n {
            padded[i * 8..i * 8 + d].copy_from_slice(&x[i * d..(i + 1) * d]);
        }
        let a = logme(&x, n, d, &y);
        let b = logme(&padded, n, 8, &y);
        // The 4 extra zero dimensions contribute d/2·ln α − ½·4·ln α = 0 to the evidence.
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}
