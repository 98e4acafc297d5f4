#!/usr/bin/python3
"""PyTorch side of the memory-limited recurrence benchmark (issue 15).

The same long LSTM as bench/scan_recompute_bench (T steps, H units, batch B,
D inputs a step, the input projection inside the step, loss = mean((h_T V)^2),
f32), forward and backward, written as T step modules in an nn.Sequential over
the packed state [h, c], without and with
torch.utils.checkpoint.checkpoint_sequential at 2, 4, 8, ... segments (windows
of T / segments steps; the last segment is not checkpointed). Memory is the
peak of the bytes autograd keeps for the backward pass, measured as
bench/recompute_torch.py does (saved tensors, once per storage, params
excluded): the counterpart of the "peak fwd" column of scan_recompute_bench.

  /usr/bin/python3 bench/scan_recompute_torch.py 1000 64 16 8
  /usr/bin/python3 bench/scan_recompute_torch.py 1000 64 16 8 --jit r.tsv  # side by side

Exits 0 with a note when PyTorch is not installed.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recompute_torch import SavedBytes, _Null  # noqa: E402 (also sets OMP_WAIT_POLICY)

try:
    import torch
    import torch.nn as nn
    from torch.utils.checkpoint import checkpoint_sequential
except ImportError:
    print("PyTorch is not installed (Debian: apt-get install python3-torch): skipped")
    sys.exit(0)


class Cell(nn.Module):
    """The parameters of the step, shared by every step module."""

    def __init__(self, hidden, inputs):
        super().__init__()
        s = hidden ** -0.5
        self.Wx = nn.Parameter(torch.randn(inputs, 4 * hidden) * s)
        self.U = nn.Parameter(torch.randn(hidden, 4 * hidden) * s)
        self.b = nn.Parameter(torch.zeros(4 * hidden))


class Step(nn.Module):
    """Step t: state [h, c] -> [h', c'] with x_t from the shared sequence."""

    def __init__(self, cell, xs, t, hidden):
        super().__init__()
        self.cell, self.xs, self.t, self.n = cell, xs, t, hidden

    def forward(self, state):
        n = self.n
        h, c = state[:, :n], state[:, n:]
        z = self.xs[self.t] @ self.cell.Wx + h @ self.cell.U + self.cell.b
        i, f = torch.sigmoid(z[:, :n]), torch.sigmoid(z[:, n:2 * n])
        g, o = torch.tanh(z[:, 2 * n:3 * n]), torch.sigmoid(z[:, 3 * n:])
        cn = f * c + i * g
        return torch.cat([o * torch.tanh(cn), cn], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dims", nargs="*", type=int, default=[1000, 64, 16, 8])
    ap.add_argument("--jit", help="scan_recompute_bench --results file, for the side-by-side table")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    T, hidden, batch, inputs = (a.dims + [1000, 64, 16, 8][len(a.dims):])[:4]
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    torch.manual_seed(0)
    cell = Cell(hidden, inputs)
    V = nn.Parameter(torch.randn(hidden, 1) * hidden ** -0.5)
    xs = torch.randn(T, batch, inputs)
    net = nn.Sequential(*[Step(cell, xs, t, hidden) for t in range(T)])
    params = list(cell.parameters()) + [V]
    # Reentrant checkpointing needs an input that requires grad.
    state0 = torch.zeros(batch, 2 * hidden).requires_grad_(True)

    def step(segments, meter=None):
        for p in params:
            p.grad = None
        ctx = (torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack)
               if meter else _Null())
        with ctx:
            out = checkpoint_sequential(net, segments, state0) if segments > 1 else net(state0)
            y = out[:, :hidden] @ V
            loss = (y * y).mean()
            loss.backward()

    counts = [1] + [s for s in (2, 4, 8, 16, 32, 64, 128, 256, 512) if s <= T]
    peaks = {}
    for s in counts:
        meter = SavedBytes(params)
        step(s, meter)
        peaks[s] = meter.peak
        step(s)  # warm-up
    # Interleaved (one run of each count per round), so that a loaded
    # machine slows every count alike.
    times = {s: [] for s in counts}
    for _ in range(a.reps):
        for s in counts:
            t0 = time.perf_counter()
            step(s)
            times[s].append(time.perf_counter() - t0)
    # checkpoint_sequential runs every segment but the last one twice.
    rows = [(s, peaks[s], (s - 1) / s if s > 1 else 0.0, statistics.median(times[s]))
            for s in counts]
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: LSTM over {T} "
          f"steps, {hidden} units, batch {batch}, {inputs} inputs a step")
    print(f"{'segments':>9} {'saved peak (MiB)':>17} {'recompute/fwd':>14} {'step':>12} {'/ none':>8}")
    for s, peak, rec, t in rows:
        print(f"{('none' if s == 1 else s):>9} {peak / 2**20:>17.3f} {rec:>14.3f} "
              f"{t * 1e3:>9.1f} ms {t / rows[0][3]:>7.2f}x")
    if not a.jit:
        return
    jit = []
    with open(a.jit) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if p[0] != "config":
                jit.append((p[0], float(p[1]), float(p[2]), float(p[4]), float(p[5])))
    full = jit[0][2]
    print("\nSide by side: for each memory of chainjit, the checkpoint_sequential whose saved "
          "peak fits it with the least recomputation")
    print(f"{'memory':>7} {'limit MiB':>10} | {'chainjit peak':>13} {'recomp':>7} {'step':>10} "
          f"{'+recomp':>9} | {'torch segs':>10} {'peak':>7} {'recomp':>7} {'step':>10} {'+recomp':>9}")
    for name, limit, peak, rec, t in jit:
        budget = limit if limit > 0 else full
        fits = [r for r in rows if r[1] <= budget]
        j_extra = t - jit[0][4]
        line = (f"{name:>7} {budget / 2**20:>10.3f} | {peak / 2**20:>13.3f} {rec:>7.3f} "
                f"{t * 1e3:>7.1f} ms {j_extra * 1e3:>6.1f} ms | ")
        if fits:
            s, tpeak, trec, tt = min(fits, key=lambda r: (r[2], r[1]))
            line += (f"{('none' if s == 1 else s):>10} {tpeak / 2**20:>7.3f} {trec:>7.3f} "
                     f"{tt * 1e3:>7.1f} ms {(tt - rows[0][3]) * 1e3:>6.1f} ms")
        else:
            line += f"{'none fits':>10}"
        print(line)


if __name__ == "__main__":
    main()
