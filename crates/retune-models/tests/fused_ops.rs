//! The fused training kernels (`retune_models::ops`) give the values and gradients of the
//! composed candle operations they replace.

use candle_core::{Device, Tensor, Var, D};
use retune_models::nn::seeded_normal;
use retune_models::ops;

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

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
