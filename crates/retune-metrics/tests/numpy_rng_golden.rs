//! Checks `retune_metrics::numpy_rng` against values recorded from numpy by
//! `scripts/golden/numpy_rng.py` (the calls sacrebleu's significance tests make).

use retune_metrics::numpy_rng::NumpyRng;
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/numpy_rng.json");
    let path = if std::path::Path::new(path).exists() {
        path.to_string()
    } else {
        // Allows building this test from a scratch crate outside the workspace.
        format!(
            "{}/golden/numpy_rng.json",
            std::path::Path::new(file!()).parent().unwrap().display()
        )
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().map(u64_of).collect()
}

fn bits(v: &Value) -> Vec<bool> {
    v.as_str().unwrap().chars().map(|c| c == '1').collect()
}

/// Sum of (i+1) * v[i] modulo 2^64, as in the golden script.
fn wsum(values: impl IntoIterator<Item = u64>) -> u64 {
    values
        .into_iter()
        .enumerate()
        .fold(0u64, |acc, (i, v)| acc.wrapping_add((i as u64 + 1).wrapping_mul(v)))
}

fn check_state(rng: &NumpyRng, expected: &Value, what: &str) {
    let (state, inc) = rng.pcg_state();
    assert_eq!(state.to_string(), expected["state"].as_str().unwrap(), "{what}: state");
    assert_eq!(inc.to_string(), expected["inc"].as_str().unwrap(), "{what}: inc");
    let has = u64_of(&expected["has_uint32"]) != 0;
    let pending = rng.pending_u32();
    assert_eq!(pending.is_some(), has, "{what}: has_uint32");
    if let Some(p) = pending {
        assert_eq!(u64::from(p), u64_of(&expected["uinteger"]), "{what}: uinteger");
    }
}

#[test]
fn choice_prefixes_match_numpy() {
    let g = golden();
    for case in g["choice"].as_array().unwrap() {
        let seed = u64_of(&case["seed"]);
        let n = u64_of(&case["n"]) as usize;
        let rows = u64_of(&case["rows"]) as usize;
        let cols = u64_of(&case["cols"]) as usize;
        let what = format!("choice seed={seed} n={n} size=({rows},{cols})");

        let mut rng = NumpyRng::new(seed);
        let mut out = vec![0u32; rows * cols];
        rng.fill_choice(n, &mut out);
        let expected = u64s(&case["values"]);
        let got: Vec<u64> = out.iter().take(expected.len()).map(|&v| u64::from(v)).collect();
        assert_eq!(got, expected, "{what}: values");
        assert_eq!(
            out.iter().map(|&v| u64::from(v)).sum::<u64>(),
            u64_of(&case["sum"]),
            "{what}: sum"
        );
        assert_eq!(
            wsum(out.iter().map(|&v| u64::from(v))),
            u64_of(&case["wsum"]),
            "{what}: wsum"
        );
        check_state(&rng, &case["state_after"], &what);

        // Row-by-row streaming gives the same array and final state.
        let mut streamed = NumpyRng::new(seed);
        let mut row = vec![0u32; cols];
        let mut all = Vec::with_capacity(rows * cols);
        for _ in 0..rows {
            streamed.fill_choice(n, &mut row);
            all.extend_from_slice(&row);
        }
        assert_eq!(all, out, "{what}: streamed");
        assert_eq!(streamed, rng, "{what}: streamed state");

        // The 64-bit entry point agrees with the 32-bit one.
        let mut wide = NumpyRng::new(seed);
        let mut out64 = vec![0u64; rows * cols];
        wide.fill_integers(n as u64, &mut out64);
        assert!(
            out64.iter().zip(&out).all(|(&a, &b)| a == u64::from(b)),
            "{what}: u64 path"
        );
    }
}

#[test]
fn wide_integers_match_numpy() {
    let g = golden();
    for case in g["integers64"].as_array().unwrap() {
        let seed = u64_of(&case["seed"]);
        let high = u64_of(&case["high"]);
        let what = format!("integers seed={seed} high={high}");
        let mut rng = NumpyRng::new(seed);
        let expected = u64s(&case["values"]);
        let mut out = vec![0u64; expected.len()];
        rng.fill_integers(high, &mut out);
        assert_eq!(out, expected, "{what}");
        check_state(&rng, &case["state_after"], &what);
    }
}

#[test]
fn bootstrap_indices_match_numpy() {
    let g = golden();
    for case in g["bootstrap"].as_array().unwrap() {
        let seed = u64_of(&case["seed"]);
        let rows = u64_of(&case["rows"]) as usize;
        let n = u64_of(&case["n"]) as usize;
        let what = format!("bootstrap seed={seed} ({rows},{n})");
        let mut rng = NumpyRng::new(seed);
        let idx = rng.choice_indices(n, rows);
        assert_eq!(idx.len(), rows * n);
        let vals = || idx.iter().map(|&v| u64::from(v));
        assert_eq!(vals().sum::<u64>(), u64_of(&case["sum"]), "{what}: sum");
        assert_eq!(wsum(vals()), u64_of(&case["wsum"]), "{what}: wsum");
        assert_eq!(
            vals().take(20).collect::<Vec<_>>(),
            u64s(&case["first"]),
            "{what}: first"
        );
        assert_eq!(
            vals().skip(idx.len() - 20).collect::<Vec<_>>(),
            u64s(&case["last"]),
            "{what}: last"
        );
        check_state(&rng, &case["state_after"], &what);
    }
}

#[test]
fn ar_mask_then_bootstrap_match_numpy() {
    let g = golden();
    for case in g["ar"].as_array().unwrap() {
        let seed = u64_of(&case["seed"]);
        let rows = u64_of(&case["rows"]) as usize;
        let cols = u64_of(&case["cols"]) as usize;
        let conf_rows = u64_of(&case["conf_rows"]) as usize;
        let what = format!("ar seed={seed} ({rows},{cols}) then choice ({conf_rows},{cols})");

        let mut rng = NumpyRng::new(seed);
        let mut mask = vec![false; rows * cols];
        rng.fill_bool(&mut mask);
        assert_eq!(
            mask.iter().filter(|&&b| b).count() as u64,
            u64_of(&case["bool_count_true"]),
            "{what}: count"
        );
        assert_eq!(
            wsum(mask.iter().map(|&b| u64::from(b))),
            u64_of(&case["bool_wsum"]),
            "{what}: bool wsum"
        );
        let first = bits(&case["bool_first"]);
        assert_eq!(&mask[..first.len()], &first[..], "{what}: bool first");
        let last = bits(&case["bool_last"]);
        assert_eq!(&mask[mask.len() - last.len()..], &last[..], "{what}: bool last");
        check_state(&rng, &case["bool_state_after"], &format!("{what} (after mask)"));

        // The same mask generated row by row through one bool stream.
        let mut streamed = NumpyRng::new(seed);
        {
            let mut s = streamed.bool_stream();
            let mut row = vec![false; cols];
            for r in 0..rows {
                s.fill(&mut row);
                assert_eq!(&row[..], &mask[r * cols..(r + 1) * cols], "{what}: streamed row {r}");
            }
        }
        assert_eq!(streamed, rng, "{what}: streamed state");

        let idx = rng.choice_indices(cols, conf_rows);
        let vals = || idx.iter().map(|&v| u64::from(v));
        assert_eq!(vals().sum::<u64>(), u64_of(&case["choice_sum"]), "{what}: choice sum");
        assert_eq!(wsum(vals()), u64_of(&case["choice_wsum"]), "{what}: choice wsum");
        let first = u64s(&case["choice_first"]);
        assert_eq!(
            vals().take(first.len()).collect::<Vec<_>>(),
            first,
            "{what}: choice first"
        );
        let last = u64s(&case["choice_last"]);
        assert_eq!(
            vals().skip(idx.len() - last.len()).collect::<Vec<_>>(),
            last,
            "{what}: choice last"
        );
        check_state(&rng, &case["state_after"], &what);
    }
}
