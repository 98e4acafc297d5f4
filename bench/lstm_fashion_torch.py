#!/usr/bin/python3
"""The sequential Fashion-MNIST LSTM (examples/lstm_fashion.cj, issue 11
example 1) in PyTorch, side by side with `chainjit train`.

The same model (each image as 28 steps of 28 pixels, nn.LSTM(28, 128), a
Linear(128, 10) classifier on the last state, cross-entropy), PyTorch's
default initialization (the family lstm_fashion.cj declares), Adam lr 1e-3,
batch 64, the same epochs and the same IDX files, pixels scaled by 1/255.
Both run on one thread by default. Prints each side's test accuracy,
seconds and CPU seconds per epoch in one table, and what compiling costs
chainjit (timed apart, so that its epoch 1 holds none).

  /usr/bin/python3 bench/lstm_fashion_torch.py
      [--data-dir /usr/share/datasets/fashion-mnist] [--epochs 10]
      [--limit N] [--threads 1] [--concurrent] [--chainjit build/chainjit]

--data-dir holds train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (Debian:
apt-get install dataset-fashion-mnist); --limit N uses the first N of each
file (any N: the last batch may be smaller). --concurrent runs `chainjit
train` at the same time as PyTorch's loop, one process each, so that on a
shared machine both see the same load (seq_side_by_side.py). Exits 0 with
a note when PyTorch is not installed.
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seq_side_by_side import compile_probe, find_chainjit, print_table, run_side_by_side  # noqa: E402

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("PyTorch is not installed (Debian: apt-get install python3-torch): skipped")
    sys.exit(0)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BATCH, HIDDEN = 64, 128   # as examples/lstm_fashion.cj declares them


def read_idx(path, limit):
    with gzip.open(path, "rb") as f:
        magic = struct.unpack(">I", f.read(4))[0]
        dims = struct.unpack(">" + "I" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        data = np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)
    return data[:limit] if limit else data


class LstmClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 10)

    def forward(self, x):
        out, _ = self.lstm(x.view(-1, 28, 28))
        return self.head(out[:, -1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--concurrent", action="store_true")
    ap.add_argument("--chainjit", default=None)
    a = ap.parse_args()
    f = {k: os.path.join(a.data_dir, k + ".gz") for k in
         ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    missing = [p for p in f.values() if not os.path.exists(p)]
    if missing:
        raise SystemExit("missing %s (Debian: apt-get install dataset-fashion-mnist, "
                         "or --data-dir)" % missing[0])
    x = torch.from_numpy(read_idx(f["train-images-idx3-ubyte"], a.limit).reshape(-1, 784).astype(np.float32) / 255)
    y = torch.from_numpy(read_idx(f["train-labels-idx1-ubyte"], a.limit).astype(np.int64))
    tx = torch.from_numpy(read_idx(f["t10k-images-idx3-ubyte"], a.limit).reshape(-1, 784).astype(np.float32) / 255)
    ty = torch.from_numpy(read_idx(f["t10k-labels-idx1-ubyte"], a.limit).astype(np.int64))

    torch.set_num_threads(a.threads)
    print("PyTorch %s, %d thread(s); %d training, %d test images" %
          (torch.__version__, a.threads, len(x), len(tx)))
    cmd = [find_chainjit(a.chainjit), "train", os.path.join(ROOT, "examples", "lstm_fashion.cj"),
           "--idx-images", f["train-images-idx3-ubyte"], "--idx-labels", f["train-labels-idx1-ubyte"],
           "--idx-test-images", f["t10k-images-idx3-ubyte"],
           "--idx-test-labels", f["t10k-labels-idx1-ubyte"],
           "--scale", "0.00392156862745098", "--optimizer", "adam", "--lr", str(a.lr),
           "--batch", str(BATCH), "--eval-batch", str(BATCH), "--epochs", str(a.epochs),
           "--seed", str(a.seed)] + (["--limit", str(a.limit)] if a.limit else [])
    # The sizes the full run compiles: a full batch and the last, smaller one.
    probe = compile_probe(cmd, a.threads, BATCH + len(x) % BATCH)
    torch_rows, cj_rows = run_side_by_side(cmd, a.threads, a.concurrent,
                                           lambda: train_torch(a, x, y, tx, ty))
    for r in cj_rows:   # the curves hold accuracies as fractions or percents
        if r.get("val_accuracy") is not None and r["val_accuracy"] <= 1.0:
            r["val_accuracy"] *= 100.0
    print_table("test accuracy", "val_accuracy", "%.2f%%", torch_rows, cj_rows, probe)


def train_torch(a, x, y, tx, ty):
    torch.manual_seed(a.seed)
    model = LstmClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    rows = []
    for epoch in range(a.epochs):
        start, cpu = time.perf_counter(), time.process_time()
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            acc = 100.0 * float((model(tx).argmax(1) == ty).float().mean())
        rows.append((acc, seconds, time.process_time() - cpu))
        print("torch epoch %d/%d  test accuracy %.2f%%  %.2f s (%.2f s of CPU with the test pass)"
              % (epoch + 1, a.epochs, acc, seconds, rows[-1][2]), flush=True)
    return rows


if __name__ == "__main__":
    main()
