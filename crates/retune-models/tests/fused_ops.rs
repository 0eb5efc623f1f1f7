//! The fused training kernels (`retune_models::ops`) give the values and gradients of the
//! composed candle operations they replace.

use candle_core::{Device, Tensor, Var, D};
use retune_models::nn::seeded_normal;
use retune_models::ops;

mod common;

use common::max_diff;

fn composed_layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Tensor {
    let mean = x.mean_keepdim(D::Minus1).unwrap();
    let xc = x.broadcast_sub(&mean).unwrap();
    let var = xc.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let xn = xc.broadcast_div(&(var + eps).unwrap().sqrt().unwrap()).unwrap();
    xn.broadcast_mul(w).unwrap().broadcast_add(b).unwrap()
}

#[test]
fn layer_norm_matches_composed_values_and_gradients() {
    let dev = Device::Cpu;
    retune_models::nn::set_seed(7);
    let x = Var::from_tensor(&(seeded_normal(&[3, 5, 48], 2.0, &dev).unwrap() + 0.5).unwrap()).unwrap();
    let w = Var::from_tensor(&seeded_normal(&[48], 1.0, &dev).unwrap()).unwrap();
    let b = Var::from_tensor(&seeded_normal(&[48], 1.0, &dev).unwrap()).unwrap();
    let up = seeded_normal(&[3, 5, 48], 1.0, &dev).unwrap();
    let fused = ops::layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-12).unwrap();
    let comp = composed_layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-12);
    assert!(max_diff(&fused, &comp) < 1e-5);
    let gf = (fused * &up).unwrap().sum_all().unwrap().backward().unwrap();
    let gc = (comp * &up).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, v) in [("x", &x), ("weight", &w), ("bias", &b)] {
        let d = max_diff(gf.get(v.as_tensor()).unwrap(), gc.get(v.as_tensor()).unwrap());
        assert!(d < 1e-4, "d{name}: {d}");
    }
}

#[test]
fn softmax_matches_composed_values_and_gradients() {
    let dev = Device::Cpu;
    retune_models::nn::set_seed(8);
    let x = Var::from_tensor(&seeded_normal(&[2, 4, 7, 7], 3.0, &dev).unwrap()).unwrap();
    let up = seeded_normal(&[2, 4, 7, 7], 1.0, &dev).unwrap();
    let fused = ops::softmax_last(x.as_tensor()).unwrap();
    let comp = candle_nn::ops::softmax(x.as_tensor(), D::Minus1).unwrap();
    assert!(max_diff(&fused, &comp) < 1e-6);
    let gf = (fused * &up).unwrap().sum_all().unwrap().backward().unwrap();
    let gc = (comp * &up).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(max_diff(gf.get(x.as_tensor()).unwrap(), gc.get(x.as_tensor()).unwrap()) < 1e-5);
}

#[test]
fn gelu_matches_candles_erf_gelu_and_its_gradient() {
    let dev = Device::Cpu;
    let vals: Vec<f32> = (-800..800).map(|i| i as f32 / 100.0).collect();
    let x = Var::from_tensor(&Tensor::from_vec(vals, 1600, &dev).unwrap()).unwrap();
    let fused = ops::gelu_erf(x.as_tensor()).unwrap();
    let reference = x.as_tensor().gelu_erf().unwrap();
    assert!(max_diff(&fused, &reference) < 2e-6);
    let gf = fused.sum_all().unwrap().backward().unwrap();
    let gr = reference.sum_all().unwrap().backward().unwrap();
    assert!(max_diff(gf.get(x.as_tensor()).unwrap(), gr.get(x.as_tensor()).unwrap()) < 1e-5);
    // erf itself against known values.
    for (v, want) in [
        (0.0f32, 0.0f32),
        (0.5, 0.520_499_9),
        (1.0, 0.842_700_8),
        (-2.0, -0.995_322_3),
        (3.5, 0.999_999_26),
    ] {
        assert!((ops::erf(v) - want).abs() < 2e-7, "erf({v})");
    }
}

#[test]
fn masked_softmax_matches_composed_values_and_gradients() {
    let dev = Device::Cpu;
    retune_models::nn::set_seed(9);
    // (batch 2, heads 3, queries 5, keys 5); the second item has two padded keys.
    let x = Var::from_tensor(&seeded_normal(&[2, 3, 5, 5], 3.0, &dev).unwrap()).unwrap();
    let mask = Tensor::new(&[[1f32, 1., 1., 1., 1.], [1., 1., 1., 0., 0.]], &dev).unwrap();
    let bias = ((mask.ones_like().unwrap() - &mask).unwrap() * f32::MIN as f64)
        .unwrap()
        .reshape((2, 1, 1, 5))
        .unwrap();
    let up = seeded_normal(&[2, 3, 5, 5], 1.0, &dev).unwrap();
    let scale = 1.0 / 8f64.sqrt();
    let fused = ops::masked_softmax(x.as_tensor(), &bias, scale).unwrap();
    let comp = candle_nn::ops::softmax(
        &(x.as_tensor() * scale).unwrap().broadcast_add(&bias).unwrap(),
        D::Minus1,
    )
    .unwrap();
    assert!(max_diff(&fused, &comp) < 1e-6);
    // Padded keys get exactly zero probability.
    let padded = fused.narrow(0, 1, 1).unwrap().narrow(3, 3, 2).unwrap();
    assert_eq!(
        padded.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(),
        0.0
    );
    let gf = (fused * &up).unwrap().sum_all().unwrap().backward().unwrap();
    let gc = (comp * &up).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(max_diff(gf.get(x.as_tensor()).unwrap(), gc.get(x.as_tensor()).unwrap()) < 1e-5);
}

#[test]
fn linear_matches_composed_values_and_gradients_and_skips_frozen_weights() {
    let dev = Device::Cpu;
    retune_models::nn::set_seed(10);
    // 37 rows (not a multiple of the bias-gradient chunk), 24 in, 13 out.
    let x = Var::from_tensor(&seeded_normal(&[37, 24], 1.0, &dev).unwrap()).unwrap();
    let w = Var::from_tensor(&seeded_normal(&[13, 24], 0.5, &dev).unwrap()).unwrap();
    let b = Var::from_tensor(&seeded_normal(&[13], 0.5, &dev).unwrap()).unwrap();
    let up = seeded_normal(&[37, 13], 1.0, &dev).unwrap();
    let fused = ops::linear(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
    let comp = x
        .as_tensor()
        .matmul(&w.as_tensor().t().unwrap())
        .unwrap()
        .broadcast_add(b.as_tensor())
        .unwrap();
    assert!(max_diff(&fused, &comp) < 1e-5);
    let gf = (fused * &up).unwrap().sum_all().unwrap().backward().unwrap();
    let gc = (comp * &up).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, v) in [("x", &x), ("weight", &w), ("bias", &b)] {
        let d = max_diff(gf.get(v.as_tensor()).unwrap(), gc.get(v.as_tensor()).unwrap());
        assert!(d < 1e-4, "d{name}: {d}");
    }
    // A frozen (detached) weight and bias get no gradient; the input's is unchanged.
    let frozen = ops::linear(x.as_tensor(), &w.as_tensor().detach(), &b.as_tensor().detach()).unwrap();
    let gz = (frozen * &up).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(gz.get(w.as_tensor()).is_none() && gz.get(b.as_tensor()).is_none());
    assert!(max_diff(gz.get(x.as_tensor()).unwrap(), gc.get(x.as_tensor()).unwrap()) < 1e-6);
}

#[test]
fn fast_exp_is_within_two_ulp_of_libm_and_exact_at_the_ends() {
    let mut worst = 0f64;
    let mut x = -87.0f32;
    while x < 88.0 {
        let (got, want) = (ops::exp_fast(x) as f64, (x as f64).exp());
        worst = worst.max(((got - want) / want).abs());
        x += 0.0137;
    }
    // 2 ulp of f32 is 2.4e-7 relative.
    assert!(worst < 2.4e-7, "max relative error {worst}");
    assert_eq!(ops::exp_fast(0.0), 1.0);
    assert_eq!(ops::exp_fast(-100.0), 0.0);
    assert_eq!(ops::exp_fast(f32::MIN), 0.0);
    assert_eq!(ops::exp_fast(100.0), f32::INFINITY);
    // erf against its odd symmetry and known values (Abramowitz & Stegun tables).
    for (x, e) in [(0.5f32, 0.520_499_9f32), (1.0, 0.842_700_8), (2.0, 0.995_322_3)] {
        assert!(
            (ops::erf(x) - e).abs() < 2e-7 && (ops::erf(-x) + e).abs() < 2e-7,
            "erf({x})"
        );
    }
}

mod fused_layer {
    //! The fused encoder layer (`ops::layer`) against the composed layer: outputs and the
    //! gradient of every parameter and of the input, in training mode with dropout (both paths
    //! draw the same masks from the seeded stream), with LoRA, frozen parameters and a frozen
    //! input.

    use super::common::{max_abs, rel};
    use candle_core::{Device, Tensor, Var};
    use retune_models::layers::{mask_bias, EncoderLayer, LayerNames, LayerPath, LayerShape, OutputRows};
    use retune_models::nn::{seeded_normal, set_seed, Mode, Params};
    use retune_models::ops;

    const NAMES: LayerNames = LayerNames {
        qkvo: ["q", "k", "v", "o"],
        attn_norm: "ln1",
        ffn: ["ffn_in", "ffn_out"],
        ffn_norm: "ln2",
    };

    fn shape(dropout: f64) -> LayerShape {
        LayerShape {
            hidden: 24,
            intermediate: 40,
            heads: 3,
            eps: 1e-12,
            act: "gelu".into(),
            attn_dropout: dropout,
            attn_out_dropout: dropout,
            ffn_dropout: dropout,
        }
    }

    /// Parameters N(0, 0.3) (LayerNorm weights around 1), LoRA (rank 4) on `lora`, `frozen`
    /// parameters detached.
    fn params(lora: &[&str], frozen: &[&str]) -> Params {
        let dev = Device::Cpu;
        set_seed(21);
        let mut p = Params::empty(&dev);
        p.init_missing = Some(0.3);
        // Load once to create every parameter, then perturb biases and norms away from 0 / 1.
        EncoderLayer::load(&p, "", &NAMES, &shape(0.0)).unwrap();
        for name in p.names() {
            let var = p.var(&name).unwrap();
            let noise = seeded_normal(var.dims(), 0.2, &dev).unwrap();
            var.set(&(var.as_tensor() + noise).unwrap()).unwrap();
        }
        for target in lora {
            let (out, inp) = p.var(&format!("{target}.weight")).unwrap().as_tensor().dims2().unwrap();
            p.insert(
                &format!("{target}.lora_A.weight"),
                &seeded_normal(&[4, inp], 0.3, &dev).unwrap(),
            )
            .unwrap();
            p.insert(
                &format!("{target}.lora_B.weight"),
                &seeded_normal(&[out, 4], 0.3, &dev).unwrap(),
            )
            .unwrap();
        }
        p.lora_scaling = 2.0;
        p.frozen = frozen.iter().map(|s| s.to_string()).collect();
        p
    }

    struct Run {
        y: Tensor,
        grads: Vec<(String, Option<Tensor>)>,
        dx: Option<Tensor>,
    }

    fn run(
        p: &Params,
        x: &Tensor,
        x_var: Option<&Var>,
        mode: Mode,
        dropout: f64,
        path: LayerPath,
        rows: OutputRows,
    ) -> Run {
        let dev = Device::Cpu;
        let layer = EncoderLayer::load(p, "", &NAMES, &shape(dropout)).unwrap();
        // Batch 3 × length 7; the second sequence has 3 padded positions, the third 1.
        let mask = Tensor::new(
            &[[1u32, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0]],
            &dev,
        )
        .unwrap();
        let bias = mask_bias(&mask).unwrap();
        set_seed(5);
        let y = layer.forward_on(x, &bias, mode, path, rows).unwrap();
        let up = {
            set_seed(6);
            seeded_normal(y.dims(), 1.0, &dev).unwrap()
        };
        let mut grads = Vec::new();
        let mut dx = None;
        if mode == Mode::Train {
            let g = ops::backward(&(&y * &up).unwrap().sum_all().unwrap()).unwrap();
            for name in p.names() {
                let var = p.var(&name).unwrap();
                grads.push((name, g.get(var.as_tensor()).cloned()));
            }
            dx = x_var.and_then(|v| g.get(v.as_tensor()).cloned());
        }
        grads.sort_by(|a, b| a.0.cmp(&b.0));
        Run { y, grads, dx }
    }

    /// Every case twice: all positions, and the first position only (against the composed
    /// layer's first row; the dropout masks at those positions must be the same).
    fn check(lora: &[&str], frozen: &[&str], x_trains: bool, mode: Mode, dropout: f64) {
        for rows in [OutputRows::All, OutputRows::First] {
            check_rows(lora, frozen, x_trains, mode, dropout, rows);
        }
    }

    fn check_rows(lora: &[&str], frozen: &[&str], x_trains: bool, mode: Mode, dropout: f64, rows: OutputRows) {
        let dev = Device::Cpu;
        let p = params(lora, frozen);
        set_seed(4);
        let x0 = seeded_normal(&[3, 7, 24], 1.0, &dev).unwrap();
        let x_var = Var::from_tensor(&x0).unwrap();
        let x = if x_trains {
            x_var.as_tensor().clone()
        } else {
            x0.clone()
        };
        let f = run(&p, &x, Some(&x_var), mode, dropout, LayerPath::Fused, rows);
        let c = run(&p, &x, Some(&x_var), mode, dropout, LayerPath::Composed, rows);
        let positions = if rows == OutputRows::All { 7 } else { 1 };
        assert_eq!(f.y.dims(), &[3, positions, 24]);
        let dy = rel(&f.y, &c.y);
        assert!(dy < 1e-5, "{rows:?}: output differs by {dy} (relative)");
        assert_eq!(f.grads.len(), c.grads.len());
        for ((name, gf), (_, gc)) in f.grads.iter().zip(&c.grads) {
            match (gf, gc) {
                // The key bias's gradient is zero in exact arithmetic (softmax ignores a
                // constant added to a row of scores): both paths give rounding noise.
                (Some(gf), Some(gc)) if name == "k.bias" => {
                    assert!(
                        max_abs(gf) < 1e-4 && max_abs(gc) < 1e-4,
                        "{} {}",
                        max_abs(gf),
                        max_abs(gc)
                    );
                }
                (Some(gf), Some(gc)) => {
                    let d = rel(gf, gc);
                    assert!(d < 1e-5, "{rows:?}: gradient of {name} differs by {d} (relative)");
                }
                (None, None) => {}
                _ => panic!("gradient of {name}: fused {} composed {}", gf.is_some(), gc.is_some()),
            }
            let trains = !frozen.contains(&name.as_str());
            assert_eq!(gf.is_some(), trains && mode == Mode::Train, "{name}");
        }
        match (&f.dx, &c.dx) {
            (Some(a), Some(b)) => assert!(rel(a, b) < 1e-5, "{rows:?}: input gradient differs by {}", rel(a, b)),
            (None, None) => assert!(!x_trains || mode == Mode::Eval),
            _ => panic!("input gradient on one path only"),
        }
    }

    #[test]
    fn full_training_with_dropout() {
        check(&[], &[], true, Mode::Train, 0.1);
    }

    #[test]
    fn lora_on_a_frozen_layer_with_a_frozen_input() {
        let frozen = [
            "q.weight",
            "q.bias",
            "k.weight",
            "k.bias",
            "v.weight",
            "v.bias",
            "o.weight",
            "o.bias",
            "ln1.weight",
            "ln1.bias",
            "ffn_in.weight",
            "ffn_in.bias",
            "ffn_out.weight",
            "ffn_out.bias",
            "ln2.weight",
            "ln2.bias",
        ];
        check(&["q", "v"], &frozen, false, Mode::Train, 0.1);
    }

    #[test]
    fn lora_everywhere_trained_input_no_dropout() {
        check(
            &["q", "k", "v", "o", "ffn_in", "ffn_out"],
            &["q.weight", "ffn_out.bias"],
            true,
            Mode::Train,
            0.0,
        );
    }

    #[test]
    fn only_the_feed_forward_trains() {
        let frozen = [
            "q.weight",
            "q.bias",
            "k.weight",
            "k.bias",
            "v.weight",
            "v.bias",
            "o.weight",
            "o.bias",
            "ln1.weight",
            "ln1.bias",
        ];
        check(&[], &frozen, false, Mode::Train, 0.1);
    }

    #[test]
    fn inference() {
        check(&[], &[], false, Mode::Eval, 0.1);
    }
}

#[test]
fn vectorized_optimizer_kernels_match_element_by_element_arithmetic() {
    // Lengths around the 16-lane blocks, values of very different sizes.
    for n in [0usize, 1, 15, 16, 17, 1000, 4099] {
        let x: Vec<f32> = (0..n)
            .map(|i| ((i * 7919 % 1013) as f32 - 506.0) * 10f32.powi((i % 9) as i32 - 6))
            .collect();
        let reference: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
        let got = ops::sum_squares(&x);
        assert!(
            (got - reference).abs() <= 1e-12 * reference.max(1e-300),
            "n {n}: {got} vs {reference}"
        );
        assert_eq!(got.to_bits(), ops::sum_squares(&x).to_bits());

        let step = ops::AdamWStep {
            grad_scale: 0.03125,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            bias_correction2_sqrt: (1.0f64 - 0.999f64.powi(3)).sqrt() as f32,
            step_size: (5e-5 / (1.0 - 0.9f64.powi(3))) as f32,
            decay: 1.0 - 5e-5 * 0.01,
        };
        let p0: Vec<f32> = x.iter().map(|v| v * 0.5 + 0.1).collect();
        let m0: Vec<f32> = x.iter().map(|v| v * 1e-3).collect();
        let v0: Vec<f32> = x.iter().map(|v| v * v * 1e-4).collect();
        let (mut p, mut g, mut m, mut v) = (p0.clone(), x.clone(), m0.clone(), v0.clone());
        ops::adamw_update(&mut p, &mut g, &mut m, &mut v, step);
        for i in 0..n {
            // PyTorch's AdamW step (decoupled decay), written out for one element.
            let gi = x[i] * step.grad_scale;
            let mi = step.beta1 * m0[i] + (1.0 - step.beta1) * gi;
            let vi = step.beta2 * v0[i] + (1.0 - step.beta2) * gi * gi;
            let pi = p0[i] * step.decay - step.step_size * mi / (vi.sqrt() / step.bias_correction2_sqrt + step.eps);
            assert_eq!(
                (m[i].to_bits(), v[i].to_bits(), p[i].to_bits(), g[i]),
                (mi.to_bits(), vi.to_bits(), pi.to_bits(), 0.0),
                "element {i} of {n}"
            );
        }
    }
}
