#!/usr/bin/python3
"""Writes the adding problem (Hochreiter & Schmidhuber 1997) as .npy files.

Each sample is T steps of (value, marker): values uniform in [0, 1], markers
0 except at two steps, one drawn in each half of the sequence; the target is
the sum of the two marked values. Predicting the mean (1) scores an MSE of
1/6. numpy only, fixed seed, so the files are the same on every machine.

    /usr/bin/python3 examples/make_adding_data.py OUT_DIR [--steps 50]
        [--train 10000] [--test 1000] [--seed 0]

writes OUT_DIR/adding_{train,test}_{x,y}.npy: x f32[S, T, 2], y f32[S].
"""
import argparse
import os

import numpy as np


def make(rng, samples, steps):
    values = rng.uniform(0.0, 1.0, size=(samples, steps)).astype(np.float32)
    markers = np.zeros((samples, steps), dtype=np.float32)
    half = steps // 2
    first = rng.integers(0, half, size=samples)
    second = rng.integers(half, steps, size=samples)
    rows = np.arange(samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=2)
    y = (values * markers).sum(axis=1).astype(np.float32)
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    for split, n in (("train", a.train), ("test", a.test)):
        x, y = make(rng, n, a.steps)
        np.save(os.path.join(a.out_dir, f"adding_{split}_x.npy"), x)
        np.save(os.path.join(a.out_dir, f"adding_{split}_y.npy"), y)
        print(f"{split}: x {x.dtype}{list(x.shape)}, y {y.dtype}{list(y.shape)}, "
              f"mse of predicting 1: {np.mean((y - 1.0) ** 2):.4f}")


if __name__ == "__main__":
    main()
