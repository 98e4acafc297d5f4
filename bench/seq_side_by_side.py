"""Shared part of the sequence-model benchmarks (gru_adding_torch.py,
lstm_fashion_torch.py): run a `chainjit train` command with --curves, read
its per-epoch metrics, and print them next to PyTorch's in one table."""
import csv
import os
import subprocess
import tempfile


def find_chainjit(given):
    """The chainjit binary: --chainjit, else build/chainjit, else PATH."""
    if given:
        return given
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "chainjit")
    return here if os.path.exists(here) else "chainjit"


def run_chainjit(cmd, threads):
    """Runs `cmd` (a list, the tool first) with --curves and returns the
    per-epoch rows: dicts of the curves CSV's columns, floats or None."""
    with tempfile.TemporaryDirectory() as tmp:
        curves = os.path.join(tmp, "curves.csv")
        env = dict(os.environ)
        if threads:
            env["OPENBLAS_NUM_THREADS"] = str(threads)
            env["OMP_NUM_THREADS"] = str(threads)
        print("$ " + " ".join(cmd), flush=True)
        done = subprocess.run(cmd + ["--curves", curves], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit("chainjit failed (exit %d):\n%s%s" %
                             (done.returncode, done.stdout, done.stderr))
        print(done.stdout.strip(), flush=True)
        rows = []
        with open(curves) as f:
            for r in csv.DictReader(f):
                rows.append({k: (float(v) if v not in ("", None) else None) for k, v in r.items()})
        return rows


def print_table(metric, torch_rows, cj_rows):
    """One line per epoch: each side's test metric and epoch seconds.
    torch_rows: (metric, seconds) per epoch; cj_rows: the curves rows."""
    print()
    print("| epoch | PyTorch test %s | chainjit test %s | PyTorch s/epoch | chainjit s/epoch |"
          % (metric, metric))
    print("|---:|---:|---:|---:|---:|")
    key = {"mse": "val_mse", "accuracy": "val_accuracy"}[metric]
    for e in range(max(len(torch_rows), len(cj_rows))):
        tm, ts = torch_rows[e] if e < len(torch_rows) else (None, None)
        c = cj_rows[e] if e < len(cj_rows) else {}
        cm, cs = c.get(key), c.get("seconds")
        fmt = (lambda v: "—" if v is None else ("%.4f" % v if metric == "mse" else "%.2f%%" % v))
        sec = (lambda v: "—" if v is None else "%.2f" % v)
        print("| %d | %s | %s | %s | %s |" % (e + 1, fmt(tm), fmt(cm), sec(ts), sec(cs)))
