//! Learning-rate schedules with linear warmup, as `transformers` defines them.

/// The decay after warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Linear decay to 0 at the last step (`get_linear_schedule_with_warmup`).
    Linear,
    /// Half-cosine decay to 0 (`get_cosine_schedule_with_warmup`, 0.5 cycles).
    Cosine,
    /// Constant after warmup (`get_constant_schedule_with_warmup`).
    Constant,
}

impl std::str::FromStr for ScheduleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "linear" => Ok(ScheduleKind::Linear),
            "cosine" => Ok(ScheduleKind::Cosine),
            "constant" => Ok(ScheduleKind::Constant),
            other => Err(format!("unknown schedule {other:?} (linear, cosine, constant)")),
        }
    }
}

/// A schedule: the multiplier of the base learning rate at each optimizer step.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schedule {
    /// Decay kind.
    pub kind: ScheduleKind,
    /// Steps of linear warmup from 0.
    pub warmup_steps: usize,
    /// Total optimizer steps.
    pub total_steps: usize,
}

impl Schedule {
    /// The multiplier at `step` (0-based: the first optimizer step uses `factor(0)`, as
    /// `LambdaLR` does when `scheduler.step()` follows `optimizer.step()`).
    pub fn factor(&self, step: usize) -> f64 {
        let (s, w, t) = (step as f64, self.warmup_steps as f64, self.total_steps as f64);
        if step < self.warmup_steps {
            return s / w.max(1.0);
        }
        match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Linear => ((t - s) / (t - w).max(1.0)).max(0.0),
            ScheduleKind::Cosine => {
                let progress = (s - w) / (t - w).max(1.0);
                (0.5 * (1.0 + (std::f64::consts::PI * 0.5 * 2.0 * progress).cos())).max(0.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_points() {
        let lin = Schedule {
            kind: ScheduleKind::Linear,
            warmup_steps: 10,
            total_steps: 110,
        };
        assert_eq!(lin.factor(0), 0.0);
        assert_eq!(lin.factor(5), 0.5);
        assert_eq!(lin.factor(10), 1.0);
        assert_eq!(lin.factor(60), 0.5);
        assert_eq!(lin.factor(110), 0.0);
        assert_eq!(lin.factor(200), 0.0);
        let cos = Schedule {
            kind: ScheduleKind::Cosine,
            ..lin
        };
        assert!((cos.factor(60) - 0.5).abs() < 1e-12);
        assert!(cos.factor(110).abs() < 1e-12);
    }
}
