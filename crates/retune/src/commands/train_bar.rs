//! The progress bar of training runs: step, loss, learning rate, rows per second and ETA, with
//! each evaluation printed above it.

use indicatif::{ProgressBar, ProgressStyle};
use retune_train::trainer::LoopEvent;

/// A progress bar fed by the training loop's events.
pub struct TrainBar {
    bar: ProgressBar,
    unit: &'static str,
}

impl TrainBar {
    /// A bar counting `unit`s per second (`ex` for examples, `pairs` for translation pairs).
    pub fn new(unit: &'static str) -> TrainBar {
        let t = TrainBar {
            bar: ProgressBar::new(0),
            unit,
        };
        t.style("{bar:30} step {pos}/{len} {msg} eta {eta}");
        t
    }

    fn style(&self, template: &str) {
        self.bar
            .set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    }

    /// Shows one event; `eval_line` words an evaluation record (step, record).
    pub fn event(&self, e: &LoopEvent, eval_line: impl Fn(usize, &serde_json::Value) -> String) {
        match e {
            LoopEvent::Encoding { done, total } => {
                if *done == 0 {
                    self.style("{bar:30} {pos}/{len} texts through the frozen encoder eta {eta}");
                }
                self.bar.set_length(*total as u64);
                self.bar.set_position(*done as u64);
            }
            LoopEvent::Start {
                total_steps, from_step, ..
            } => {
                self.style("{bar:30} step {pos}/{len} {msg} eta {eta}");
                self.bar.set_length(*total_steps as u64);
                self.bar.set_position(*from_step as u64);
            }
            LoopEvent::Step {
                step,
                loss,
                lr,
                rows_per_s,
            } => {
                self.bar.set_position(*step as u64);
                self.bar
                    .set_message(format!("loss {loss:.4} lr {lr:.2e} {rows_per_s:.1} {}/s", self.unit));
            }
            LoopEvent::Eval { step, record, .. } => self.bar.println(eval_line(*step, record)),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A number of an evaluation record (NaN when absent).
pub fn field(record: &serde_json::Value, key: &str) -> f64 {
    record[key].as_f64().unwrap_or(f64::NAN)
}
