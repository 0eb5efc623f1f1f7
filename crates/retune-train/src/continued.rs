//! Continued fine-tuning of a fine-tuned checkpoint on new data, for every task: which labels
//! the run has (the checkpoint's own, in its order, then the data's new ones — so the old task
//! can still be predicted and its forgetting measured) and which old examples are replayed.

use crate::batching::SplitMix;

/// The labels of a run that continues from a checkpoint whose head has `checkpoint` labels
/// (None: not a fine-tuned head of this task, or its head is to be replaced — `--new-head`):
/// those labels in their order, then the new ones of `data` in its order; `data` alone
/// otherwise.
pub fn run_labels(checkpoint: Option<&[String]>, data: &[String]) -> Vec<String> {
    let mut names: Vec<String> = checkpoint.map(|c| c.to_vec()).unwrap_or_default();
    for n in data {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// Which of `n` old examples are mixed into the new training data: a `fraction` of them (at
/// least one), drawn without replacement by `seed`, in their original order.
pub fn replay_rows(n: usize, fraction: f64, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    SplitMix(seed ^ 0x7e91a7).shuffle(&mut idx);
    idx.truncate(((n as f64) * fraction).round().max(1.0).min(n as f64) as usize);
    idx.sort_unstable();
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn checkpoint_labels_keep_their_ids_and_new_ones_follow() {
        let old = s(&["O", "B-PER", "I-PER"]);
        let data = s(&["B-ORG", "I-ORG", "O", "B-PER"]);
        assert_eq!(
            run_labels(Some(&old), &data),
            s(&["O", "B-PER", "I-PER", "B-ORG", "I-ORG"])
        );
        assert_eq!(run_labels(None, &data), data);
    }

    #[test]
    fn replay_draws_a_seeded_fraction_in_order() {
        let r = replay_rows(100, 0.1, 3);
        assert_eq!(r.len(), 10);
        assert!(r.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(r, replay_rows(100, 0.1, 3));
        assert_ne!(r, replay_rows(100, 0.1, 4));
        assert_eq!(replay_rows(5, 0.01, 0).len(), 1);
        assert_eq!(replay_rows(5, 1.0, 0), vec![0, 1, 2, 3, 4]);
    }
}
