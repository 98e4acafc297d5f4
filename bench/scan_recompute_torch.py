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

import memory_points

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
    memory_points.print_segments(rows, 3)
    if not a.jit:
        return
    memory_points.print_side_by_side(
        rows, memory_points.read_jit(a.jit), 3,
        "the checkpoint_sequential whose saved peak fits it with the least recomputation",
        lambda r: (r[2], r[1]))


if __name__ == "__main__":
    main()
