#!/usr/bin/python3
"""PyTorch's side of bench/epoch_bench (issue 14): one training epoch of the
Fashion-MNIST MLP 784-256-10 and the CNN of examples/fashion_cnn.cj, SGD with
momentum 0.9, lr 0.05, batch 64, on one thread, the data scaled by 1/255 once
and held as one tensor (batches are index gathers, as in the chainjit
trainer); each step also counts the batch's correct predictions (the chainjit
step computes its argmax too). Prints PyTorch's epoch beside chainjit's from
the results file of epoch_bench and the ratio. PyTorch runs twice per model:
as it comes, and with torch.set_flush_denormal(True), the setting the
chainjit trainer uses (docs/training.md: momentum drives the velocities of
always-zero pixels into subnormal numbers, which are slow); the speed-up is
against the faster of the two.

  /usr/bin/python3 bench/epoch_torch.py --jit epochs.tsv [--data DIR] [--epochs N]
  /usr/bin/python3 bench/epoch_torch.py --rounds R --epoch-bench PATH --examples DIR [--data DIR]
                                        [--results FILE]

DIR as for epoch_bench (the Fashion-MNIST IDX files; synthetic data of the
same shape without them). Exits 0 with a note when torch is missing.

With --rounds, the two sides alternate: each round runs epoch_bench for one
model (a process of its own: one epoch after the one that compiles), then
PyTorch's epochs of that model, and the speed-up is the median of the
rounds' ratios. This host's speed drifts by tens of percent within
minutes; measured one after the other, the two sides of a ratio see the
same machine, where a whole run of each can fall into different phases.
--results FILE writes each model's medians over the rounds (speed-up,
chainjit/limit, vs best call) for bench/issue14_targets.py.
"""
import argparse
import gzip
import os
import platform
import subprocess
import tempfile
import time

import numpy as np

import results_tsv

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("epoch_torch.py: no torch for this python3 (apt-get install python3-torch): skipped")
    raise SystemExit(0)


def load(directory):
    images = os.path.join(directory, "train-images-idx3-ubyte.gz")
    labels = os.path.join(directory, "train-labels-idx1-ubyte.gz")
    if os.path.exists(images) and os.path.exists(labels):
        with gzip.open(images) as f:
            x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
        with gzip.open(labels) as f:
            y = np.frombuffer(f.read(), np.uint8, offset=8)
        source = "Fashion-MNIST from " + directory
    else:
        rng = np.random.default_rng(7)
        x = rng.integers(0, 256, (60000, 784), dtype=np.uint8)
        y = rng.integers(0, 10, 60000, dtype=np.uint8)
        source = "synthetic, Fashion-MNIST's shape"
    x = torch.from_numpy(x.astype(np.float32) / 255.0)  # scaled once
    return x, torch.from_numpy(y.astype(np.int64)), source


def mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def cnn():
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def epoch_seconds(model, x, y, epochs):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    lossf = nn.CrossEntropyLoss()
    n, times = x.shape[0], []
    for _ in range(epochs):
        order = torch.randperm(n)
        total, correct = torch.zeros(()), torch.zeros((), dtype=torch.int64)
        t0 = time.perf_counter()
        for b in range(0, n, 64):
            idx = order[b:b + 64]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = lossf(logits, yb)
            loss.backward()
            opt.step()
            total += loss.detach() * idx.numel()
            correct += (logits.detach().argmax(1) == yb).sum()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))  # the first epoch warms up


def torch_epoch(make, x, y, epochs):
    """PyTorch's epoch as it comes and with flush-to-zero, and the faster."""
    torch.set_flush_denormal(False)
    plain_s = epoch_seconds(make(), x, y, max(2, epochs))
    torch.set_flush_denormal(True)
    ftz_s = epoch_seconds(make(), x, y, max(2, epochs))
    torch.set_flush_denormal(False)
    return plain_s, ftz_s, min(plain_s, ftz_s)


def rounds(a, x, y, source):
    print(f"PyTorch {torch.__version__}, 1 thread, {platform.processor() or platform.machine()}; "
          f"data: {source}; {a.rounds} rounds, each: chainjit's epoch (epoch_bench, one epoch "
          f"after the compiling one), then PyTorch's (one after a warm-up, plain and FTZ)")
    print(f"{'model':<6} {'round':>5} {'chainjit':>10} {'PyTorch':>10} {'PyTorch FTZ':>12} "
          f"{'speed-up':>9} {'FLOP limit':>11} {'chainjit/limit':>15} {'vs best call':>13}")
    medians = []  # results lines, written at the end
    for key, make in (("mlp", mlp), ("cnn", cnn)):
        if key not in a.models.split(","):
            continue
        ratios, limits, stricts = [], [], []
        for r in range(a.rounds):
            with tempfile.NamedTemporaryFile(suffix=".tsv") as f:
                subprocess.run([a.epoch_bench, "--data", a.data, "--examples", a.examples,
                                "--epochs", "2", "--general-epochs", "0", "--models", key,
                                "--results", f.name], check=True, stdout=subprocess.DEVNULL)
                jit = results_tsv.read(f.name)
            # The limit at the GEMM rate sustained just before and just
            # after the epoch (epoch_bench's "ratio"), and the ratio to the
            # best single call there ("strict").
            cj, limit = jit[("epoch", key)], jit[("limit", key)]
            to_limit, strict = jit[("ratio", key)], jit[("strict", key)]
            plain_s, ftz_s, torch_s = torch_epoch(make, x, y, 2)
            ratios.append(torch_s / cj)
            limits.append(to_limit)
            stricts.append(strict)
            print(f"{key:<6} {r + 1:>5} {cj:9.3f}s {plain_s:9.3f}s {ftz_s:11.3f}s "
                  f"{torch_s / cj:8.2f}x {limit:10.3f}s {to_limit:14.2f}x {strict:12.2f}x")
        print(f"{key:<6} {'median':>5} {'':>10} {'':>10} {'':>12} {np.median(ratios):8.2f}x "
              f"{'':>11} {np.median(limits):14.2f}x {np.median(stricts):12.2f}x   (target: >= 2x; "
              f"rounds {min(ratios):.2f}-{max(ratios):.2f}x)")
        medians += [f"speedup\t{key}\t{np.median(ratios):.9g}\n",
                    f"limit_ratio\t{key}\t{np.median(limits):.9g}\n",
                    f"strict_ratio\t{key}\t{np.median(stricts):.9g}\n"]
    if a.results:
        with open(a.results, "w") as out:
            out.writelines(medians)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jit", help="epoch_bench --results file")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=0,
                    help="alternate with epoch_bench this many times per model")
    ap.add_argument("--epoch-bench", help="the epoch_bench program (with --rounds)")
    ap.add_argument("--examples", help="the examples directory (with --rounds)")
    ap.add_argument("--models", default="mlp,cnn", help="with --rounds: which models (mlp,cnn)")
    ap.add_argument("--results", help="with --rounds: write the medians of the rounds here")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y, source = load(a.data)
    if a.rounds > 0:
        if not a.epoch_bench or not a.examples:
            ap.error("--rounds needs --epoch-bench and --examples")
        return rounds(a, x, y, source)
    jit = results_tsv.read(a.jit) if a.jit and os.path.exists(a.jit) else {}
    print(f"PyTorch {torch.__version__}, 1 thread, {platform.processor() or platform.machine()}; "
          f"data: {source}; median of {a.epochs - 1} epochs after one warm-up")
    print(f"{'model':<6} {'chainjit':>10} {'PyTorch':>10} {'PyTorch FTZ':>12} {'speed-up':>9} "
          f"{'target':>7} {'FLOP limit':>11} {'chainjit/limit':>15}")
    for key, make in (("mlp", mlp), ("cnn", cnn)):
        if ("epoch", key) not in jit and jit:
            continue
        plain_s, ftz_s, torch_s = torch_epoch(make, x, y, a.epochs)
        cj = jit.get(("epoch", key))
        limit = jit.get(("limit", key))
        cj_text = f"{cj:9.3f}s" if cj else f"{'-':>10}"
        ratio = f"{torch_s / cj:8.2f}x" if cj else f"{'-':>9}"
        lim = f"{limit:10.3f}s" if limit else f"{'-':>11}"
        to_limit = jit.get(("ratio", key))  # each epoch against the rate probed beside it
        lim_ratio = f"{to_limit:14.2f}x" if to_limit else f"{'-':>15}"
        print(f"{key:<6} {cj_text} {plain_s:9.3f}s {ftz_s:11.3f}s {ratio} {'>= 2x':>7} {lim} "
              f"{lim_ratio}")


if __name__ == "__main__":
    main()
