//! The optimizer, schedules, clipping and losses against values computed by PyTorch 2.15 and
//! transformers 5.24 (`scripts/golden/make_train_golden.py` → `tests/data/train_golden.json`).

use candle_core::{Device, Tensor, Var};
use retune_train::loss::{bce_with_logits_sum, cross_entropy_sum};
use retune_train::optim::{AdamW, AdamWConfig};
use retune_train::schedule::{Schedule, ScheduleKind};
use serde_json::Value;

fn golden() -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/train_golden.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn data(v: &Value) -> Vec<f32> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn tensor(v: &Value) -> Tensor {
    Tensor::from_vec(data(v), shape(v), &Device::Cpu).unwrap()
}

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn adamw_matches_torch_over_five_steps() {
    let g = golden();
    let a = &g["adamw"];
    // Names decide weight decay as the Trainer does: weights decay, biases and LayerNorm do not.
    let names = [("W", "W.weight"), ("b", "b.bias"), ("g", "g.LayerNorm.weight")];
    let vars: Vec<(String, Var)> = names
        .iter()
        .map(|(k, n)| (n.to_string(), Var::from_tensor(&tensor(&a["init"][k])).unwrap()))
        .collect();
    let mut opt = AdamW::new(vars.clone(), AdamWConfig::default());
    for step in 0..5 {
        for (i, (k, _)) in names.iter().enumerate() {
            opt.set_grad(i, &data(&a["grads"][step][k]));
        }
        let lr = a["lrs"][step].as_f64().unwrap();
        opt.step(lr, None).unwrap();
        for (i, (k, _)) in names.iter().enumerate() {
            let want = data(&a["f32"]["params_after_step"][step][k]);
            close(
                &flat(vars[i].1.as_tensor()),
                &want,
                2e-6,
                &format!("step {} {k}", step + 1),
            );
        }
    }
    for (i, (k, _)) in names.iter().enumerate() {
        let (m, v) = opt.moments(i);
        let st = &a["f32"]["state_after_last_step"][k];
        close(m, &data(&st["exp_avg"]), 1e-5, "exp_avg");
        close(v, &data(&st["exp_avg_sq"]), 1e-5, "exp_avg_sq");
    }
}

#[test]
fn schedules_match_transformers() {
    let g = golden();
    let s = &g["schedules"];
    for (name, kind) in [
        ("linear", ScheduleKind::Linear),
        ("cosine", ScheduleKind::Cosine),
        ("constant", ScheduleKind::Constant),
    ] {
        let sch = Schedule {
            kind,
            warmup_steps: 10,
            total_steps: 100,
        };
        for (step, want) in s[name]["multipliers"].as_array().unwrap().iter().enumerate() {
            let want = want.as_f64().unwrap();
            assert!(
                (sch.factor(step) - want).abs() < 1e-12,
                "{name} step {step}: {} vs {want}",
                sch.factor(step)
            );
        }
        // The k-th optimizer step (1-based) uses factor(k - 1).
        for (k, want) in s[name]["lr_used_by_step"]["5e-05"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let got = 5e-5 * sch.factor(k);
            assert!(
                (got - want.as_f64().unwrap()).abs() < 1e-15,
                "{name} lr of step {}",
                k + 1
            );
        }
    }
}

#[test]
fn clipping_matches_clip_grad_norm() {
    let g = golden();
    for case in g["clip"]["cases"].as_array().unwrap() {
        let grads: Vec<Value> = case["grads"].as_array().unwrap().clone();
        // Zero-moment AdamW with lr 0 leaves parameters alone; compare the norm and the first
        // moment, which after one step is (1 - beta1) * clipped grad.
        let vars: Vec<(String, Var)> = grads
            .iter()
            .enumerate()
            .map(|(i, gv)| {
                (
                    format!("p{i}.weight"),
                    Var::zeros(shape(gv), candle_core::DType::F32, &Device::Cpu).unwrap(),
                )
            })
            .collect();
        let mut opt = AdamW::new(vars, AdamWConfig::default());
        for (i, gv) in grads.iter().enumerate() {
            opt.set_grad(i, &data(gv));
        }
        let norm = opt.step(0.0, Some(1.0)).unwrap();
        let want = case["f32"]["total_norm"].as_f64().unwrap();
        assert!(
            (norm - want).abs() < 1e-5 * want,
            "{}: norm {norm} vs {want}",
            case["name"]
        );
        for (i, clipped) in case["f32"]["clipped_grads"].as_array().unwrap().iter().enumerate() {
            let m: Vec<f32> = opt.moments(i).0.iter().map(|m| m / 0.1).collect();
            close(&m, &data(clipped), 1e-5, "clipped grad");
        }
    }
}

#[test]
fn cross_entropy_with_label_smoothing_matches_torch() {
    let g = golden();
    for key in ["cross_entropy", "cross_entropy_seq2seq"] {
        let l = &g["losses"][key];
        let logits = tensor(&l["logits"]);
        let k = *shape(&l["logits"]).last().unwrap();
        let logits2 = logits.reshape(((), k)).unwrap();
        let targets: Vec<i64> = l["targets"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        for case in l["cases"].as_array().unwrap() {
            let s = case["label_smoothing"].as_f64().unwrap();
            let var = Var::from_tensor(&logits2).unwrap();
            let (sum, count) = cross_entropy_sum(var.as_tensor(), &targets, s).unwrap();
            let mean = (sum.clone() / count as f64).unwrap();
            let want = &case["f32"];
            let got_sum = sum.to_scalar::<f32>().unwrap() as f64;
            let got_mean = mean.to_scalar::<f32>().unwrap() as f64;
            assert!(
                (got_sum - want["sum"]["loss"].as_f64().unwrap()).abs() < 1e-5,
                "{key} s={s} sum"
            );
            assert!(
                (got_mean - want["mean"]["loss"].as_f64().unwrap()).abs() < 1e-6,
                "{key} s={s} mean"
            );
            let grads = mean.backward().unwrap();
            let gl = grads.get(var.as_tensor()).unwrap();
            close(&flat(gl), &data(&want["mean"]["grad_logits"]), 1e-5, "grad");
        }
    }
    let b = &g["losses"]["bce_with_logits"];
    let (sum, _) = bce_with_logits_sum(&tensor(&b["logits"]), &tensor(&b["targets"])).unwrap();
    let n = data(&b["logits"]).len() as f64;
    let got = sum.to_scalar::<f32>().unwrap() as f64 / n;
    assert!((got - b["f32"]["loss"].as_f64().unwrap()).abs() < 1e-6);
}

#[test]
fn warmup_clipping_and_adamw_loop_matches_torch_end_to_end() {
    let g = golden();
    let e = &g["e2e"];
    let x = tensor(&e["x"]);
    let y = tensor(&e["y"]);
    let w = Var::from_tensor(&tensor(&e["w0"])).unwrap();
    let cfg = AdamWConfig {
        weight_decay: 0.01,
        ..Default::default()
    };
    let mut opt = AdamW::new(vec![("W.weight".into(), w.clone())], cfg);
    let sch = Schedule {
        kind: ScheduleKind::Linear,
        warmup_steps: 3,
        total_steps: 12,
    };
    for k in 0..12 {
        let diff = (x.matmul(w.as_tensor()).unwrap() - &y).unwrap();
        let sum = diff.sqr().unwrap().sum_all().unwrap();
        let loss = sum.to_scalar::<f32>().unwrap() as f64 / 8.0;
        let want = e["f32"]["loss"][k].as_f64().unwrap();
        assert!(
            (loss - want).abs() < 1e-4 * want.abs().max(1.0),
            "loss {k}: {loss} vs {want}"
        );
        let grads = sum.backward().unwrap();
        opt.accumulate(&grads, 8.0).unwrap();
        let lr = 0.1 * sch.factor(k);
        assert!((lr - e["f32"]["lr"][k].as_f64().unwrap()).abs() < 1e-12);
        let norm = opt.step(lr, Some(1.0)).unwrap();
        let wn = e["f32"]["grad_norm"][k].as_f64().unwrap();
        assert!((norm - wn).abs() < 1e-4 * wn, "grad norm {k}: {norm} vs {wn}");
        close(
            &flat(w.as_tensor()),
            &data(&e["f32"]["W_after_step"][k]),
            1e-4,
            &format!("W after step {}", k + 1),
        );
    }
}

#[test]
fn accumulating_two_halves_equals_one_batch() {
    // Gradient accumulation normalised by the real count gives the same update as one batch.
    let dev = Device::Cpu;
    let x = Tensor::new(&[[1f32, 2.0], [0.5, -1.0], [3.0, 0.0], [-2.0, 1.0], [0.0, 0.5]], &dev).unwrap();
    let y = Tensor::new(&[[1f32], [0.0], [2.0], [-1.0], [0.5]], &dev).unwrap();
    let run = |splits: &[(usize, usize)]| -> Vec<f32> {
        let w = Var::from_tensor(&Tensor::new(&[[0.3f32], [-0.2]], &dev).unwrap()).unwrap();
        let mut opt = AdamW::new(vec![("w.weight".into(), w.clone())], AdamWConfig::default());
        for &(s, n) in splits {
            let d = (x.narrow(0, s, n).unwrap().matmul(w.as_tensor()).unwrap() - y.narrow(0, s, n).unwrap()).unwrap();
            let sum = d.sqr().unwrap().sum_all().unwrap();
            opt.accumulate(&sum.backward().unwrap(), n as f64).unwrap();
        }
        opt.step(0.01, Some(1.0)).unwrap();
        flat(w.as_tensor())
    };
    let one = run(&[(0, 5)]);
    let two = run(&[(0, 2), (2, 3)]);
    close(&one, &two, 1e-6, "accumulated vs one batch");
    assert_ne!(one, vec![0.3, -0.2]);
}
