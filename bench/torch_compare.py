#!/usr/bin/python3
"""PyTorch side of the issue-4 comparison (bench/run_all.sh drives it).

Runs the same f32 MLP training steps (forward, loss.backward(), manual SGD
update p -= lr * grad, as torch.optim.SGD without momentum does) and the same
f64 Jacobians of tanh(W v) chains (torch.autograd.functional.jacobian,
vectorize=True, strategies reverse-mode and forward-mode) as
bench/jit_train_step_bench and bench/jit_jacobian_bench.

PyTorch is tuned fairly, as issue 4 asks: each measurement runs in a fresh
worker process under three settings and the better one is reported:
  t1-blas2 : torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2, OMP_WAIT_POLICY=PASSIVE
  default  : PyTorch's default threads, OMP_WAIT_POLICY=PASSIVE
  t2-passive: torch.set_num_threads(2), OMP_WAIT_POLICY=PASSIVE

  /usr/bin/python3 bench/torch_compare.py                       # PyTorch times only
  /usr/bin/python3 bench/torch_compare.py --jit steps.tsv jac.tsv   # plus the ratio table
  ... --results torch.tsv   # also PyTorch's best time of each (bench/issue14_targets.py)

The .tsv files are what the C++ benchmarks write with --results. Exits 0
with a note when PyTorch is not installed (Debian: apt-get install python3-torch).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import results_tsv

STEPS = [  # (widths, batch, issue's PyTorch 1.13 time in s, target speedup torch/chainjit)
    ((64, 128, 10), 32, 0.37e-3, 20.0),
    ((784, 256, 256, 10), 128, 3.8e-3, 1.8),
    ((784, 1024, 1024, 10), 256, 28e-3, 1.3),
    ((64, 32, 32, 32, 32, 10), 1, 0.53e-3, 100.0),
]
CHAINS = [(2000, 20, 2000), (1000, 10, 10, 1000)]
JACOBIAN_SPEEDUP = 10.0  # optimal plan vs the better torch strategy

SETTINGS = {
    "t1-blas2": {"OPENBLAS_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE", "TORCH_THREADS": "1"},
    "default": {"OMP_WAIT_POLICY": "PASSIVE"},
    # Debian's build starts with one thread (omp_get_max_threads() is 1 here),
    # so two torch threads are tried explicitly too.
    "t2-passive": {"OMP_WAIT_POLICY": "PASSIVE", "TORCH_THREADS": "2"},
}


def step_key(widths, batch):
    return "-".join(map(str, widths)) + "@" + str(batch)


def chain_key(widths):
    return "-".join(map(str, widths))


def time_median(fn, min_seconds=0.5, min_samples=15):
    """Median seconds per call over samples of ~200 µs or more each."""
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.02 or n < 3:
        fn()
        n += 1
    inner = max(1, int(200e-6 / ((time.perf_counter() - t0) / n)))
    samples = []
    t_start = time.perf_counter()
    while len(samples) < min_samples or time.perf_counter() - t_start < min_seconds:
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
        if len(samples) >= 3000:
            break
    return statistics.median(samples)


def worker():
    import torch

    if os.environ.get("TORCH_THREADS"):
        torch.set_num_threads(int(os.environ["TORCH_THREADS"]))
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "steps": {}, "jacobians": {}}

    for widths, batch, _, _ in STEPS:
        x = torch.rand(batch, widths[0])
        labels = torch.randint(0, widths[-1], (batch,))
        params = []
        for i, o in zip(widths[:-1], widths[1:]):
            lim = (6.0 / (i + o)) ** 0.5
            params.append((torch.rand(i, o) * 2 - 1).mul_(lim).requires_grad_())
            params.append(torch.zeros(o, requires_grad=True))
        lr = 1e-3

        def step():
            h = x
            for l in range(0, len(params), 2):
                h = h @ params[l] + params[l + 1]
                if l + 2 < len(params):
                    h = torch.relu(h)
            loss = torch.nn.functional.cross_entropy(h, labels)
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.sub_(lr * p.grad)  # torch.optim.SGD(lr) without momentum
                    p.grad = None
            return loss

        out["steps"][step_key(widths, batch)] = time_median(step, 2.0 if batch >= 256 else 0.6)

    for widths in CHAINS:
        g = torch.Generator().manual_seed(11)
        x = torch.randn(widths[0], dtype=torch.float64, generator=g)
        Ws = [torch.randn(o, i, dtype=torch.float64, generator=g) / i ** 0.5
              for i, o in zip(widths[:-1], widths[1:])]

        def f(v):
            for W in Ws:
                v = torch.tanh(W @ v)
            return v

        for strategy in ("reverse-mode", "forward-mode"):
            fn = lambda: torch.autograd.functional.jacobian(f, x, vectorize=True, strategy=strategy)
            out["jacobians"][chain_key(widths) + "/" + strategy] = time_median(fn, 1.5)
    print(json.dumps(out))


def run_setting(name):
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "TORCH_THREADS"):
        env.pop(k, None)
    env.update(SETTINGS[name])
    r = subprocess.run([sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"torch worker ({name}) failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fmt_time(s):
    if s is None:
        return "-"
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.3f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--jit", nargs=2, metavar=("STEPS_TSV", "JACOBIANS_TSV"),
                    help="results files of the C++ benchmarks (--results)")
    ap.add_argument("--results", help="write PyTorch's best time of each step and Jacobian here")
    a = ap.parse_args()
    if a.worker:
        worker()
        return 0
    try:
        subprocess.run([sys.executable, "-c", "import torch"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        print(f"PyTorch is not installed for {sys.executable} (Debian: apt-get install python3-torch); "
              "skipping the comparison")
        return 0

    results = {name: run_setting(name) for name in SETTINGS}
    any_r = next(iter(results.values()))
    print(f"PyTorch {any_r['torch']}; settings: " + "; ".join(
        f"{n} = {SETTINGS[n]} ({results[n]['threads']} torch threads)" for n in SETTINGS))

    def best(section, key):
        return min(((results[n][section][key], n) for n in SETTINGS), key=lambda t: t[0])

    if a.results:
        with open(a.results, "w") as out:
            for widths, batch, _, _ in STEPS:
                k = step_key(widths, batch)
                out.write(f"torch_step\t{k}\t{best('steps', k)[0]:.9g}\n")
            for widths in CHAINS:
                ck = chain_key(widths)
                t = min(best("jacobians", ck + "/" + s)[0] for s in ("reverse-mode", "forward-mode"))
                out.write(f"torch_jacobian\t{ck}\t{t:.9g}\n")

    jit = {}
    if a.jit:
        for path in a.jit:
            if os.path.exists(path):
                jit.update(results_tsv.read(path))

    print("\nTraining step (f32): PyTorch (better setting) vs chainjit; speedup = torch / chainjit")
    cols = " ".join(f"{n:>11}" for n in SETTINGS)
    print(f"{'MLP@batch':<24} | {cols} {'torch best':>11} | "
          f"{'chainjit':>11} {'speedup':>8} {'target':>7} {'met':>4} | {'issue torch':>11}")
    for widths, batch, issue_t, target in STEPS:
        k = step_key(widths, batch)
        tb, _ = best("steps", k)
        cj = jit.get(("step", k))
        sp = tb / cj if cj else None
        per = " ".join(f"{fmt_time(results[n]['steps'][k]):>11}" for n in SETTINGS)
        print(f"{k:<24} | {per} {fmt_time(tb):>11} | {fmt_time(cj):>11} "
              f"{(f'{sp:.2f}x' if sp else '-'):>8} {f'>={target:g}x':>7} "
              f"{('yes' if sp and sp >= target else ('NO' if sp else '-')):>4} | {fmt_time(issue_t):>11}")

    print("\nFull Jacobian (f64): torch.autograd.functional.jacobian(vectorize=True) vs chainjit's optimal plan")
    print(f"{'chain':<18} {'strategy':<13} | {cols} | {'chainjit opt':>12} "
          f"{'speedup':>8} {'target':>7} {'met':>4}")
    for widths in CHAINS:
        ck = chain_key(widths)
        cj = jit.get(("jacobian", ck + "/optimal"))
        best_all = min(best("jacobians", ck + "/" + s)[0] for s in ("reverse-mode", "forward-mode"))
        for s in ("reverse-mode", "forward-mode"):
            k = ck + "/" + s
            per = " ".join(f"{fmt_time(results[n]['jacobians'][k]):>11}" for n in SETTINGS)
            print(f"{ck:<18} {s:<13} | {per} |")
        sp = best_all / cj if cj else None
        print(f"{ck:<18} {'best':<13} | {fmt_time(best_all):>{12 * len(SETTINGS) - 1}} | {fmt_time(cj):>12} "
              f"{(f'{sp:.2f}x' if sp else '-'):>8} {f'>={JACOBIAN_SPEEDUP:g}x':>7} "
              f"{('yes' if sp and sp >= JACOBIAN_SPEEDUP else ('NO' if sp else '-')):>4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
