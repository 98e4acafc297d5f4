#!/usr/bin/python3
"""Issue 14's targets in one run of bench/run_all.sh, one line each.

Reads the results files the benchmarks wrote into one directory (run_all.sh
passes --results to each; tab-separated lines `kind  key  value`) and prints
each target with the value measured, the bound, whether it was met and a
note (the MLP's ratio against the best probe call; the final product with
the rank-k kernel forced, with plain and with streaming stores, and the
share of the allowed time its multiply-adds alone take at dgemm's rate of
the moment); then how many were met.
A target whose numbers are missing (PyTorch not installed, a program not
run) shows "-" and is listed as not measured.

  /usr/bin/python3 bench/issue14_targets.py RESULTS_DIR

The files: steps.tsv (jit_train_step_bench), jacobians.tsv
(jit_jacobian_bench), torch.tsv (torch_compare.py), last_product.tsv
(time_model_bench), epochs.tsv (epoch_bench), epoch_rounds.tsv
(epoch_torch.py --rounds), compile.tsv (jit_compile_bench). Exits 0: it
reports, it does not judge a run (a shared host's phase decides some of
these, docs/performance.md).
"""
import os
import sys

import results_tsv

FILES = ("steps", "jacobians", "torch", "last_product", "epochs", "epoch_rounds", "compile")
BATCH_32, BATCH_1, JACOBIAN = "64-128-10@32", "64-32-32-32-32-10@1", "2000-20-2000"
COMPILE_WAY = "generic"  # the default way of emitting the micro-kernels


def read_results(directory):
    values = {}
    for name in FILES:
        path = os.path.join(directory, name + ".tsv")
        if os.path.exists(path):
            values.update(results_tsv.read(path))
    return values


def ratio(a, b):
    return a / b if a is not None and b else None


def beside(label, value):
    return f"{label} {value:.2f}x" if value is not None else ""


def targets(v):
    """(target, value, unit, bound, at least?, note) for each target."""
    get = lambda kind, key: v.get((kind, key))
    gemms = lambda key: min((t for t in (get("gemm", key), get("gemm_loops", key)) if t),
                            default=None)
    colds = [val for (kind, key), val in v.items()
             if kind == "compile_cold_cpu" and key.endswith("/" + COMPILE_WAY)]
    cacheds = [val for (kind, key), val in v.items()
               if kind == "compile_cached_cpu" and key.endswith("/" + COMPILE_WAY)]
    outsides = [get("outside", m) for m in ("mlp", "cnn") if get("outside", m) is not None]
    product, copy2 = get("last_product", "measured"), get("last_product", "copy-2cpus")
    fma_time = get("last_product", "fma-at-dgemm-rate")
    reachable = ""
    if fma_time and copy2:
        reachable = (f"the multiply-adds alone at dgemm's rate now take "
                     f"{fma_time / (copy2 / 0.7):.0%} of the time the target allows")
    rank_k = ratio(copy2, get("last_product", "rank-k"))
    streamed = ratio(copy2, get("last_product", "rank-k-stream"))
    return [
        ("MLP epoch, speed-up over PyTorch (rounds' median)", get("speedup", "mlp"), "x", 2.0,
         True, ""),
        ("MLP epoch / its FLOP limit (rounds' median)", get("limit_ratio", "mlp"), "x", 1.5, False,
         beside("vs the best probe call", get("strict_ratio", "mlp"))),
        ("MLP epoch / its FLOP limit (epoch_bench's epochs)", get("ratio", "mlp"), "x", 1.5, False,
         beside("vs the best probe call", get("strict", "mlp"))),
        ("CNN epoch, speed-up over PyTorch (rounds' median)", get("speedup", "cnn"), "x", 2.0,
         True, ""),
        ("epoch time outside the compiled steps (worst model)",
         max(outsides) * 100 if outsides else None, "%", 10.0, False, ""),
        (f"step {BATCH_32} / its GEMMs' fastest way", ratio(get("step", BATCH_32), gemms(BATCH_32)),
         "x", 1.1, False, ""),
        (f"step {BATCH_1} / its GEMMs' fastest way", ratio(get("step", BATCH_1), gemms(BATCH_1)),
         "x", 2.0, False, ""),
        (f"step {BATCH_1}, speed-up over PyTorch",
         ratio(get("torch_step", BATCH_1), get("step", BATCH_1)), "x", 60.0, True, ""),
        (f"Jacobian {JACOBIAN}, speed-up over PyTorch's best",
         ratio(get("torch_jacobian", JACOBIAN), get("jacobian", JACOBIAN + "/optimal")), "x", 10.0,
         True, ""),
        ("its final product's bandwidth / the 2-CPU copy's",
         ratio(copy2, product) * 100 if ratio(copy2, product) else None, "%", 70.0, True,
         (f"rank-k kernel forced {rank_k:.0%}; " if rank_k else "") +
         (f"streaming {streamed:.0%}; " if streamed else "") + reachable),
        ("compile, cold (CPU, slowest model)", max(colds) * 1e3 if colds else None, " ms", 150.0,
         False, ""),
        ("compile, cached (CPU, slowest model)", max(cacheds) * 1e3 if cacheds else None, " ms",
         10.0, False, ""),
    ]


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} RESULTS_DIR", file=sys.stderr)
        return 2
    if not os.path.isdir(argv[1]):
        print(f"{argv[1]}: not a directory", file=sys.stderr)
        return 2
    rows = targets(read_results(argv[1]))
    print(f"issue 14's targets in this run (from {argv[1]})")
    print(f"{'target':<56} {'value':>9} {'bound':>9} {'met':>4}  note")
    missed, missing = [], []
    for name, value, unit, bound, at_least, note in rows:
        ok = value is not None and (value >= bound if at_least else value <= bound)
        if value is None:
            missing.append(name)
        elif not ok:
            missed.append(name)
        shown = "-" if value is None else f"{value:.2f}{unit}" if unit != "%" else f"{value:.1f}%"
        verdict = "-" if value is None else "yes" if ok else "NO"
        print(f"{name:<56} {shown:>9} {('>= ' if at_least else '<= ') + f'{bound:g}{unit}':>9} "
              f"{verdict:>4}  {note}".rstrip())
    print(f"{len(rows) - len(missed) - len(missing)} of {len(rows)} met" +
          (f"; not met: {'; '.join(missed)}" if missed else "") +
          (f"; not measured in this run: {'; '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
