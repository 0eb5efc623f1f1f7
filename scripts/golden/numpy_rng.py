#!/usr/bin/env python3
"""Golden values for crates/retune-metrics/src/numpy_rng.rs.

Records what numpy's default generator returns for the exact calls sacrebleu's
significance tests make (sacrebleu/significance.py):

    rng = np.random.default_rng(seed)
    rng.choice(n, size=(rows, n), replace=True)       # bootstrap
    rng.integers(2, size=(rows, n), dtype=bool)       # approximate randomization
    (then possibly rng.choice(...) again on the same generator)

choice(n, size, replace=True) draws a flat stream of prod(size) values, so for
large n we use a small size (e.g. (3, 20)); the prefix is the same as that of
the (rows, n) bootstrap array. Big arrays are summarised by sums, a position
weighted checksum (sum of (i+1)*v[i] modulo 2**64, flat row-major index i), and
first/last values. The generator state after each call is recorded too.

Usage: python scripts/golden/numpy_rng.py  (writes
crates/retune-metrics/tests/golden/numpy_rng.json)
"""
import json
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "retune-metrics" / "tests" / "golden" / "numpy_rng.json"

SEEDS = [12345, 0, 1, 2**40 + 7]
NS = [1, 2, 3, 7, 1000, 2037, 100000, 2**31 + 11]


def state_after(rng):
    st = rng.bit_generator.state
    return {
        "state": str(st["state"]["state"]),
        "inc": str(st["state"]["inc"]),
        "has_uint32": int(st["has_uint32"]),
        "uinteger": int(st["uinteger"]),
    }


def wsum(arr):
    flat = np.ascontiguousarray(arr).reshape(-1).astype(np.uint64)
    w = np.arange(1, flat.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int(np.sum(w * flat, dtype=np.uint64))


def bits(arr):
    return "".join("1" if b else "0" for b in arr)


def main():
    choice = []
    for seed in SEEDS:
        for n in NS:
            rng = np.random.default_rng(seed)
            shape = (3, n) if n <= 2037 else (3, 20)
            idx = rng.choice(n, size=shape, replace=True)
            choice.append({
                "seed": seed, "n": n, "rows": shape[0], "cols": shape[1],
                "values": [int(v) for v in idx.reshape(-1)[:50]],
                "sum": int(idx.sum()),
                "wsum": wsum(idx),
                "state_after": state_after(rng),
            })

    integers64 = []
    for seed in SEEDS:
        for high in [2**32, 2**32 + 5, 2**40 + 3, 2**63 + 12345]:
            rng = np.random.default_rng(seed)
            v = rng.integers(0, high, size=30, dtype=np.int64) if high < 2**63 \
                else rng.integers(0, high, size=30, dtype=np.uint64)
            integers64.append({
                "seed": seed, "high": high,
                "values": [int(x) for x in v],
                "state_after": state_after(rng),
            })

    # Exact sacrebleu bootstrap shape (default seed 12345, 1000 resamples).
    bootstrap = []
    for seed, rows, n in [(12345, 1000, 2037), (0, 1000, 2037), (12345, 7, 100000)]:
        rng = np.random.default_rng(seed)
        idx = rng.choice(n, size=(rows, n), replace=True)
        flat = idx.reshape(-1)
        bootstrap.append({
            "seed": seed, "rows": rows, "n": n,
            "sum": int(flat.sum()), "wsum": wsum(flat),
            "first": [int(v) for v in flat[:20]],
            "last": [int(v) for v in flat[-20:]],
            "state_after": state_after(rng),
        })

    # Approximate randomization mask (default 10000 trials), then optional
    # bootstrap on the same generator.
    ar = []
    for seed, rows, cols, conf_rows in [
        (12345, 10000, 1875, 1000),
        (12345, 37, 101, 5),     # 3737 bools: ends inside a 32-bit word and
        (1, 3, 11, 4),           # inside PCG64's half-word buffer
        (2**40 + 7, 5, 64, 3),
    ]:
        rng = np.random.default_rng(seed)
        sel = rng.integers(2, size=(rows, cols), dtype=bool)
        flat = sel.reshape(-1)
        bool_state = state_after(rng)
        idx = rng.choice(cols, size=(conf_rows, cols), replace=True)
        iflat = idx.reshape(-1)
        ar.append({
            "seed": seed, "rows": rows, "cols": cols,
            "bool_count_true": int(flat.sum()),
            "bool_wsum": wsum(flat),
            "bool_first": bits(flat[:200]),
            "bool_last": bits(flat[-200:]),
            "bool_state_after": bool_state,
            "conf_rows": conf_rows,
            "choice_sum": int(iflat.sum()),
            "choice_wsum": wsum(iflat),
            "choice_first": [int(v) for v in iflat[:20]],
            "choice_last": [int(v) for v in iflat[-20:]],
            "state_after": state_after(rng),
        })

    out = {
        "numpy_version": np.__version__,
        "choice": choice,
        "integers64": integers64,
        "bootstrap": bootstrap,
        "ar": ar,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
