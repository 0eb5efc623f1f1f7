//! Transferability estimates computed on frozen features: LogME (You, Liu, Wang, Long, ICML
//! 2021: the evidence of a Bayesian linear model of the one-hot targets, maximised by its
//! fixed point) and the H-score (Bao et al. 2019) with a Ledoit–Wolf shrunk feature
//! covariance (Ibrahim, Ponomareva, Mazumder 2022). The formulas, step by step, are those of
//! `scripts/golden/make_transferability_golden.py`, whose NumPy/scikit-learn numbers the
//! tests match to 1e-6.

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

/// LogME of features `x` (`n × d`) for the labels `y`: the mean over the classes of the
/// per-row log evidence of a linear model of the class's one-hot target. Higher is better.
pub fn logme(x: &[f32], n: usize, d: usize, y: &[u32]) -> f64 {
    let f = matrix(x, n, d);
    let eig = SymmetricEigen::new(f.transpose() * &f);
    let s: Vec<f64> = eig.eigenvalues.iter().map(|&v| v.max(0.0)).collect();
    let v = eig.eigenvectors;
    let nf = n as f64;
    let cs = classes(y);
    let mut total = 0.0;
    for &c in &cs {
        let t = DVector::from_iterator(n, y.iter().map(|&l| if l == c { 1.0 } else { 0.0 }));
        let z = v.transpose() * (f.transpose() * &t);
        let mean_of = |alpha: f64, beta: f64| -> DVector<f64> {
            let w = DVector::from_iterator(d, (0..d).map(|i| beta * z[i] / (alpha + beta * s[i])));
            &v * w
        };
        let (mut alpha, mut beta) = (1.0f64, 1.0f64);
        for _ in 0..100 {
            let gamma: f64 = s.iter().map(|&si| beta * si / (alpha + beta * si)).sum();
            let m = mean_of(alpha, beta);
            let mm = m.dot(&m).max(1e-12);
            let res = (&f * &m - &t).norm_squared().max(1e-12);
            let (a2, b2) = (gamma / mm, (nf - gamma) / res);
            let done = ((a2 / b2) - alpha / beta).abs() / (alpha / beta) < 1e-3;
            alpha = a2;
            beta = b2;
            if done {
                break;
            }
        }
        let m = mean_of(alpha, beta);
        let mm = m.dot(&m);
        let res = (&f * &m - &t).norm_squared();
        let log_det: f64 = s.iter().map(|&si| (alpha + beta * si).ln()).sum();
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
/// `(1 − δ)·S + δ·(tr S / d)·I`, S the (1/n) covariance.
fn ledoit_wolf_shrinkage(x: &DMatrix<f64>) -> f64 {
    let (n, d) = x.shape();
    if d == 1 {
        return 0.0;
    }
    let nf = n as f64;
    let x2 = x.map(|v| v * v);
    let trace_terms: Vec<f64> = (0..d).map(|j| x2.column(j).sum() / nf).collect();
    let mu = trace_terms.iter().sum::<f64>() / d as f64;
    let beta_sum = (x2.transpose() * &x2).sum();
    let delta_sum = (x.transpose() * x).map(|v| v * v).sum() / (nf * nf);
    let beta = 1.0 / (d as f64 * nf) * (beta_sum / nf - delta_sum);
    let delta = (delta_sum - 2.0 * mu * trace_terms.iter().sum::<f64>() + d as f64 * mu * mu) / d as f64;
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
pub fn hscore(x: &[f32], n: usize, d: usize, y: &[u32]) -> f64 {
    let mut f = matrix(x, n, d);
    let nf = n as f64;
    for j in 0..d {
        let mean = f.column(j).sum() / nf;
        f.column_mut(j).add_scalar_mut(-mean);
    }
    let shrink = ledoit_wolf_shrinkage(&f);
    let emp = f.transpose() * &f / nf;
    let mu = emp.trace() / d as f64;
    let mut sf = emp * (1.0 - shrink);
    for i in 0..d {
        sf[(i, i)] += shrink * mu;
    }
    let mut g = DMatrix::<f64>::zeros(n, d);
    for c in classes(y) {
        let rows: Vec<usize> = (0..n).filter(|&i| y[i] == c).collect();
        let mut mean = DVector::<f64>::zeros(d);
        for &i in &rows {
            mean += f.row(i).transpose();
        }
        mean /= rows.len() as f64;
        for &i in &rows {
            g.set_row(i, &mean.transpose());
        }
    }
    let sg = g.transpose() * &g / nf;
    // Pseudo-inverse as NumPy's `pinv(hermitian=True)`: eigenvalues below max(n, d)·ε·|λ|max
    // are dropped.
    let eig = SymmetricEigen::new(sf);
    let top = eig.eigenvalues.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
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
