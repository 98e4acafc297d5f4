#!/usr/bin/python3
"""The GRU adding-problem example (examples/gru_adding.cj, issue 11 example 4)
in PyTorch, side by side with `chainjit train`.

The same model (nn.GRU(2, 32), a Linear(32, 1) head on the last state, mse),
PyTorch's default initialization (the family gru_adding.cj declares), Adam,
the same learning rate, batch 50, epochs, and the same .npy files
(examples/make_adding_data.py; written to DATA_DIR when missing). Both run on
one thread by default (torch.set_num_threads, OPENBLAS_NUM_THREADS). Prints
each side's test MSE, seconds and CPU seconds per epoch in one table, and what
compiling costs chainjit (timed apart, so that its epoch 1 holds none).

  /usr/bin/python3 bench/gru_adding_torch.py [--data-dir /tmp/adding]
      [--epochs 10] [--lr 0.003] [--threads 1] [--concurrent]
      [--chainjit build/chainjit]

--concurrent runs `chainjit train` at the same time as PyTorch's loop, one
process each, so that on a shared machine both see the same load
(seq_side_by_side.py).

Exits 0 with a note when PyTorch is not installed.
"""
import argparse
import os
import subprocess
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
BATCH, HIDDEN = 50, 32   # as examples/gru_adding.cj declares them


class GruAdding(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(2, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1]).squeeze(1)


def evaluate(model, x, y):
    with torch.no_grad():
        return float(torch.mean((model(x) - y) ** 2))


def train_torch(files, epochs, lr, seed):
    x, y = (torch.from_numpy(np.load(files[k])) for k in ("train_x", "train_y"))
    tx, ty = (torch.from_numpy(np.load(files[k])) for k in ("test_x", "test_y"))
    torch.manual_seed(seed)
    model = GruAdding()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows = []
    for epoch in range(epochs):
        start, cpu = time.perf_counter(), time.process_time()
        order = torch.randperm(len(x))
        for i in range(0, len(x) - BATCH + 1, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss = torch.mean((model(x[idx]) - y[idx]) ** 2)
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        rows.append((evaluate(model, tx, ty), seconds, time.process_time() - cpu))
        print("torch epoch %d/%d  test mse %.4f  %.2f s (%.2f s of CPU with the test pass)"
              % (epoch + 1, epochs, rows[-1][0], seconds, rows[-1][2]), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/tmp/adding")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--concurrent", action="store_true")
    ap.add_argument("--chainjit", default=None)
    a = ap.parse_args()
    files = {f"{s}_{v}": os.path.join(a.data_dir, f"adding_{s}_{v}.npy")
             for s in ("train", "test") for v in ("x", "y")}
    if not all(os.path.exists(f) for f in files.values()):
        subprocess.run([sys.executable, os.path.join(ROOT, "examples", "make_adding_data.py"),
                        a.data_dir], check=True)
    torch.set_num_threads(a.threads)
    print("PyTorch %s, %d thread(s)" % (torch.__version__, a.threads))
    cmd = [find_chainjit(a.chainjit), "train", os.path.join(ROOT, "examples", "gru_adding.cj"),
           "--data", "x=%s,y=%s" % (files["train_x"], files["train_y"]),
           "--test-data", "x=%s,y=%s" % (files["test_x"], files["test_y"]),
           "--optimizer", "adam", "--lr", str(a.lr), "--batch", str(BATCH),
           "--eval-batch", str(BATCH), "--epochs", str(a.epochs), "--seed", str(a.seed)]
    # 10000 = 200 x 50: one batch size, so one batch shows the compiling.
    probe = compile_probe(cmd, a.threads, BATCH)
    torch_rows, cj_rows = run_side_by_side(cmd, a.threads, a.concurrent,
                                           lambda: train_torch(files, a.epochs, a.lr, a.seed))
    print_table("test mse", "val_mse", "%.4f", torch_rows, cj_rows, probe)


if __name__ == "__main__":
    main()
