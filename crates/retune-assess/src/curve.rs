//! Learning curves: an inverse power law `score(n) = a - b * n^(-c)` fitted to (rows, score)
//! points, to estimate what more data would bring.

/// A fitted inverse power law.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct PowerLaw {
    /// The asymptote (score with unlimited data).
    pub a: f64,
    /// Scale of the gap.
    pub b: f64,
    /// Decay exponent.
    pub c: f64,
    /// Root-mean-square error of the fit on the points.
    pub rmse: f64,
}

impl PowerLaw {
    /// The predicted score with `n` rows.
    pub fn at(&self, n: f64) -> f64 {
        self.a - self.b * n.powf(-self.c)
    }
}

/// Least-squares fit over a grid of exponents `c` (for each, `a` and `b` are linear).
/// Needs at least 3 points with distinct `n`; `b` is kept non-negative (scores rise with data)
/// and the asymptote `a` at most `max_score` (1.0 for accuracy).
///
/// ```
/// use retune_assess::curve::fit_power_law;
/// let pts: Vec<(f64, f64)> = [100.0, 200.0, 400.0, 800.0].iter().map(|&n: &f64| (n, 0.9 - 2.0 * n.powf(-0.5))).collect();
/// let f = fit_power_law(&pts).unwrap();
/// assert!((f.a - 0.9).abs() < 1e-3 && (f.c - 0.5).abs() < 0.02);
/// ```
pub fn fit_power_law(points: &[(f64, f64)]) -> Option<PowerLaw> {
    fit_power_law_bounded(points, 1.0)
}

/// [`fit_power_law`] with the asymptote bounded by `max_score`.
pub fn fit_power_law_bounded(points: &[(f64, f64)], max_score: f64) -> Option<PowerLaw> {
    let mut ns: Vec<f64> = points.iter().map(|p| p.0).collect();
    ns.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    ns.dedup();
    if ns.len() < 3 || points.iter().any(|p| p.0 <= 0.0) {
        return None;
    }
    let mut best: Option<PowerLaw> = None;
    for step in 10..=300 {
        let c = step as f64 * 0.005;
        // score = a + beta * x with x = n^-c, beta = -b.
        let xs: Vec<f64> = points.iter().map(|p| p.0.powf(-c)).collect();
        let m = points.len() as f64;
        let (sx, sy) = (xs.iter().sum::<f64>(), points.iter().map(|p| p.1).sum::<f64>());
        let sxx: f64 = xs.iter().map(|x| x * x).sum();
        let sxy: f64 = xs.iter().zip(points).map(|(x, p)| x * p.1).sum();
        let den = m * sxx - sx * sx;
        if den.abs() < 1e-18 {
            continue;
        }
        let mut beta = (m * sxy - sx * sy) / den;
        beta = beta.min(0.0);
        let mut a = (sy - beta * sx) / m;
        if a > max_score {
            // Refit the slope with the asymptote fixed at the bound.
            a = max_score;
            let sxa: f64 = xs.iter().zip(points).map(|(x, p)| x * (p.1 - a)).sum();
            beta = (sxa / sxx).min(0.0);
        }
        let sse: f64 = xs.iter().zip(points).map(|(x, p)| (a + beta * x - p.1).powi(2)).sum();
        let fit = PowerLaw {
            a,
            b: -beta,
            c,
            rmse: (sse / m).sqrt(),
        };
        if best.is_none_or(|b| fit.rmse < b.rmse) {
            best = Some(fit);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asymptote_is_bounded_and_the_fit_follows_the_points() {
        // The probe curve measured on Rotten Tomatoes (docs/assess.md).
        let pts = [
            (400.0, 0.627),
            (800.0, 0.633),
            (1600.0, 0.693),
            (2800.0, 0.698),
            (4000.0, 0.726),
        ];
        let f = fit_power_law(&pts).unwrap();
        assert!(f.a <= 1.0 && f.b >= 0.0 && f.c >= 0.05, "{f:?}");
        assert!(f.rmse < 0.02, "{f:?}");
        assert!(f.at(8000.0) > f.at(4000.0));
        // Too few points: no fit.
        assert!(fit_power_law(&pts[..2]).is_none());
    }
}
