#!/usr/bin/python3
"""PyTorch side of the memory-limited gradient benchmark (issue 15).

The same deep MLP as bench/recompute_bench (L tanh layers of W units, batch B,
then 10 classes, cross-entropy, f32), forward and backward, without and with
torch.utils.checkpoint.checkpoint_sequential at 2, 4, ..., L segments. Memory
is the peak of the bytes that autograd keeps for the backward pass (saved
tensors, counted once per storage, params excluded; a recomputed segment's
saved tensors count while they live), measured with
torch.autograd.graph.saved_tensors_hooks: the counterpart of the "peak fwd"
column of recompute_bench (the JIT's forward values).

  /usr/bin/python3 bench/recompute_torch.py 64 512 64
  /usr/bin/python3 bench/recompute_torch.py 64 512 64 --jit r.tsv   # side by side

Exits 0 with a note when PyTorch is not installed.
"""
import argparse
import os
import statistics
import sys
import time

import memory_points

# As bench/torch_compare.py found best on this kind of machine: OpenMP threads
# that sleep when idle (set before torch is imported).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import torch
    import torch.nn as nn
    from torch.utils.checkpoint import checkpoint_sequential
except ImportError:
    print("PyTorch is not installed (Debian: apt-get install python3-torch): skipped")
    sys.exit(0)


class SavedBytes:
    """Live and peak bytes of the tensors autograd saves."""

    def __init__(self, params):
        self.params = {p.storage().data_ptr() for p in params}
        self.live = {}
        self.current = 0
        self.peak = 0

    def pack(self, t):
        storage = t.storage()
        key = storage.data_ptr()
        if key in self.params:
            return _Held(None, None, t)
        if key in self.live:
            self.live[key][1] += 1
        else:
            self.live[key] = [storage.nbytes(), 1]
            self.current += storage.nbytes()
            self.peak = max(self.peak, self.current)
        return _Held(self, key, t)

    @staticmethod
    def unpack(held):
        return held.tensor


class _Held:
    def __init__(self, meter, key, tensor):
        self.meter, self.key, self.tensor = meter, key, tensor

    def __del__(self):
        if self.meter is None:
            return
        entry = self.meter.live[self.key]
        entry[1] -= 1
        if entry[1] == 0:
            self.meter.current -= entry[0]
            del self.meter.live[self.key]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dims", nargs="*", type=int, default=[64, 512, 64])
    ap.add_argument("--jit", help="recompute_bench --results file, for the side-by-side table")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    layers, width, batch = (a.dims + [64, 512, 64][len(a.dims):])[:3]
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    torch.manual_seed(0)
    modules = []
    for _ in range(layers):
        modules += [nn.Linear(width, width), nn.Tanh()]
    modules.append(nn.Linear(width, 10))
    net = nn.Sequential(*modules)
    # Reentrant checkpointing needs an input that requires grad, or the
    # first segment's params get no gradient.
    x = torch.randn(batch, width).requires_grad_(True)
    y = torch.randint(0, 10, (batch,))

    def step(segments, meter=None):
        net.zero_grad(set_to_none=True)
        ctx = (torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack)
               if meter else _Null())
        with ctx:
            out = checkpoint_sequential(net, segments, x) if segments > 1 else net(x)
            loss = nn.functional.cross_entropy(out, y)
            loss.backward()

    counts = [1] + [s for s in (2, 4, 8, 16, 32, 64, 128) if s <= layers]
    rows = []
    for s in counts:
        meter = SavedBytes(net.parameters())
        step(s, meter)
        step(s)  # warm-up
        times = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            step(s)
            times.append(time.perf_counter() - t0)
        # checkpoint_sequential runs every segment but the last one twice.
        rows.append((s, meter.peak, (s - 1) / s if s > 1 else 0.0, statistics.median(times)))
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: "
          f"{layers} tanh layers of {width} units, batch {batch}")
    memory_points.print_segments(rows, 2)
    if not a.jit:
        return
    memory_points.print_side_by_side(
        rows, memory_points.read_jit(a.jit), 2,
        "the fastest checkpoint_sequential whose saved peak fits it",
        lambda r: r[3], full_tape_row=True)


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
