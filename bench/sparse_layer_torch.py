#!/usr/bin/python3
"""PyTorch side of the GCN scale benchmark (issue 11): one layer
H = A (X W) on a random graph of 100,000 nodes and 1,000,000 edges, f32,
N = 16, 32, 64 features, with torch.sparse.mm on A in COO form -- the
counterpart of bench/sparse_layer_bench (chainjit's JIT on A in CSR form).
The graph is made the same way (each edge's row uniform, then its column
uniform, the value 1/out-degree of the row), from NumPy's generator rather
than chainjit's, so it is the same random graph in distribution, not edge for
edge (duplicate edges, about 5 in 100,000, are summed by coalesce()).

Timed (medians of interleaved samples, on every core unless --threads):
  layer  the forward H = A (X W) alone, under torch.no_grad()
  grad W forward and backward: loss = sum(H * H), its gradient with
         respect to W, A constant (torch.sparse.mm)
  grad W,v  the gradient with respect to W and A's values -- what
         sparse_layer_bench's "JIT grad" column computes (compiler::grad of
         the same loss for W and the values). torch.sparse.mm cannot give
         it here: its backward for a sparse A that requires grad builds a
         dense [nodes, nodes] gradient (40 GB; torch 1.13), so H is written
         as gather + index_add_ (message passing) for this column
Peak memory: the process's peak resident memory (Linux VmHWM, reset through
/proc/self/clear_refs once the data is made, so the generator's temporaries
do not count) above the RSS before the graph's data was made, for
one forward and for one forward and backward (each gradient), N = 32 -- the counterpart of
the peak column of sparse_layer_bench's memory table (one layer call and
its data, after the JIT compiled; torch's first call warms up first too).

  /usr/bin/python3 bench/sparse_layer_torch.py [--jit sparse.tsv] [--threads T]

With --jit (the --results file of build/bench/sparse_layer_bench) it prints
chainjit's times and 1M-edge peaks (forward, and forward + backward with
its JIT arena and arguments) beside PyTorch's. Exits 0 with a note when
PyTorch is not installed.
"""
import argparse
import ctypes
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
try:
    import numpy as np
    import torch
except ImportError:
    print("PyTorch is not installed (Debian: apt-get install python3-torch): skipped")
    sys.exit(0)

NODES, EDGES = 100_000, 1_000_000


def proc_status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak():
    """Returns the memory free()d but kept by malloc to the system (else a
    later allocation reuses it unseen), then resets VmHWM to the RSS."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:
        pass
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def random_adjacency(seed, requires_grad):
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.integers(0, NODES, size=EDGES))
    cols = rng.integers(0, NODES, size=EDGES)
    deg = np.bincount(rows, minlength=NODES)
    vals = (1.0 / deg[rows]).astype(np.float32)
    idx = torch.from_numpy(np.stack([rows, cols]))
    adj = torch.sparse_coo_tensor(idx, torch.from_numpy(vals), (NODES, NODES)).coalesce()
    return adj.requires_grad_(requires_grad)


def problem(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(NODES, n, generator=g)
    w = (torch.randn(n, n, generator=g) / n ** 0.5).requires_grad_()
    return random_adjacency(seed, False), x, w


def layer(adj, x, w):
    with torch.no_grad():
        return torch.sparse.mm(adj, x @ w)


def grad(adj, x, w):
    """d sum(H*H) / dW with A constant (the usual GCN: A is data)."""
    w.grad = None
    h = torch.sparse.mm(adj, x @ w)
    (h * h).sum().backward()
    return w.grad


def grad_values(adj, x, w):
    """d sum(H*H) / d(W, A's values), H as gather + index_add (message
    passing, PyG's way without torch_sparse): torch.sparse.mm's backward
    for a sparse A that requires grad makes a dense [nodes, nodes]
    gradient (40 GB here) in torch 1.13."""
    rows, cols = adj.indices()
    vals = adj.values().detach().requires_grad_()
    w.grad = None
    xw = x @ w
    h = torch.zeros_like(xw).index_add_(0, rows, vals[:, None] * xw[cols])
    (h * h).sum().backward()
    return w.grad, vals.grad


def timed(fns, budget, rounds):
    """Median seconds of each fn, sampled in turn (interleaved) for `rounds` rounds."""
    samples = [[] for _ in fns]
    for f in fns:
        f()  # warm-up
    for _ in range(rounds):
        for i, f in enumerate(fns):
            reps, t0 = 0, time.perf_counter()
            while True:
                f()
                reps += 1
                if time.perf_counter() - t0 > budget / rounds:
                    break
            samples[i].append((time.perf_counter() - t0) / reps)
    return [statistics.median(s) for s in samples]


def fmt_time(s):
    return f'{s * 1e3:.3f} ms' if s < 1 else f'{s:.3f} s'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--jit', help='sparse_layer_bench --results file, for the side-by-side table')
    ap.add_argument('--threads', type=int, default=os.cpu_count(),
                    help='torch threads (default: every core, as OpenBLAS in the JIT)')
    ap.add_argument('--quick', action='store_true', help='N = 16 only, short timings')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    widths = [16] if a.quick else [16, 32, 64]

    jit = {}
    if a.jit:
        with open(a.jit) as f:
            for line in f:
                kind, key, value = line.split('\t')
                jit[(kind, key)] = float(value)

    print(f'PyTorch {torch.__version__} ({a.threads} thread(s)): H = A (X W), A sparse COO, '
          f'{NODES} nodes, {EDGES} edges, f32')
    print(f'{"N":>3} | {"torch layer":>12} {"torch grad W":>12} {"torch grad W,v":>14} | '
          f'{"chainjit layer":>14} {"chainjit grad":>14} | {"layer, grad W,v: torch / chainjit":>33}')
    for n in widths:
        adj, x, w = problem(n)
        t_layer, t_grad, t_gv = timed(
            [lambda: layer(adj, x, w), lambda: grad(adj, x, w), lambda: grad_values(adj, x, w)],
            0.5 if a.quick else 3.0, 3 if a.quick else 7)
        jl, jg = jit.get(('jit_layer', str(n))), jit.get(('jit_grad', str(n)))
        ratio = f'{t_layer / jl:.1f}x, {t_gv / jg:.1f}x' if jl and jg else '-'
        print(f'{n:>3} | {fmt_time(t_layer):>12} {fmt_time(t_grad):>12} {fmt_time(t_gv):>14} | '
              f'{fmt_time(jl) if jl else "-":>14} {fmt_time(jg) if jg else "-":>14} | {ratio:>33}')
        del adj, x, w

    # Memory, N = 32: warm up (the first product's buffers stay with the
    # process), then measure from the RSS before the data is made.
    adj, x, w = problem(32, seed=2)
    grad(adj, x, w)
    del adj, x, w
    peaks = {}
    for name, fn in (('forward', layer), ('forward+backward', grad), ('fwd+bwd W,v', grad_values)):
        reset_peak()
        before = proc_status('VmRSS:')
        adj, x, w = problem(32, seed=3)
        # the generator's NumPy temporaries are not the layer's: reset again
        # once the data is made, then the peak counts the data and the call
        ok = reset_peak()
        out = fn(adj, x, w)
        peaks[name] = proc_status('VmHWM:') - before if ok else None
        del adj, x, w, out
    mib = lambda b: f'{b / 2**20:.1f} MiB' if b is not None else 'n/a'
    csr = 4 * (NODES + 1) + 8 * EDGES
    print(f'\npeak resident memory of the data and one call above the RSS before the data was made, N = 32, {EDGES} edges '
          f'(data included; CSR of A alone {mib(csr)}, COO {mib(20 * EDGES)}):')
    print(f'  torch forward           {mib(peaks["forward"])}')
    print(f'  torch forward+backward  {mib(peaks["forward+backward"])}  (gradient for W)')
    print(f'  torch forward+backward  {mib(peaks["fwd+bwd W,v"])}  (gradient for W and the values, gather + index_add_)')
    jp = jit.get(('peak_bytes', str(EDGES)))
    jg = jit.get(('grad_peak_bytes', str(EDGES)))
    ja = jit.get(('grad_arena_bytes', str(EDGES)))
    if jp is not None:
        print(f'  chainjit forward        {mib(jp)}  (sparse_layer_bench, one layer call)')
    if jg is not None:
        print(f'  chainjit forward+backward  {mib(jg)}  (gradient for W and the values; '
              f'JIT arena + arguments {mib(ja)})')
        print(f'  torch / chainjit, forward+backward for W and the values: '
              f'{peaks["fwd+bwd W,v"] / jg:.1f}x; torch (W only) / chainjit (W and values): '
              f'{peaks["forward+backward"] / jg:.1f}x')


if __name__ == '__main__':
    main()
