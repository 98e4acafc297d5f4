"""Shared part of the issue-11 benchmarks against PyTorch (gru_adding_torch.py,
lstm_fashion_torch.py, char_transformer_torch.py): run a `chainjit train`
command with --curves, in the foreground or beside PyTorch's loop
(--concurrent), read its per-epoch metrics and the CPU seconds it spent per
epoch, and print them next to PyTorch's in one table.

Why CPU seconds: on the shared 2-core development machine wall-clock epoch
times measure the load as much as the program; CPU seconds do not depend on
how the cores are shared out. Why --concurrent: when both sides run at once,
one process each, they see the same load, so their wall times compare with
each other (not with an idle machine's)."""
import atexit
import csv
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+)")

# chainjit caches compiled code (and its kernel calibration) on disk; every
# run of one benchmark shares a fresh cache directory, so that the compile
# probe pays all of the compiling and the side-by-side run none of it.
_cache = []


def cache_dir():
    if not _cache:
        _cache.append(tempfile.mkdtemp(prefix="chainjit-bench-cache-"))
        atexit.register(shutil.rmtree, _cache[0], True)
    return _cache[0]


def find_chainjit(given):
    """The chainjit binary: --chainjit, else build/chainjit, else PATH."""
    if given:
        return given
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "chainjit")
    return here if os.path.exists(here) else "chainjit"


def _cpu_seconds(pid):
    """User + system CPU seconds of a running process (Linux /proc), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class ChainjitRun:
    """`chainjit train` in the background: start() returns at once, finish()
    waits and returns the per-epoch rows (dicts of the curves CSV's columns,
    floats or None) with "cpu" added: the process's CPU seconds between two
    epoch lines (the epoch's training steps and its test pass; the first also
    holds starting and loading the data, and compiling unless cached). The trainer writes its epoch lines
    to stderr as each epoch ends, so a thread reading them samples the CPU
    time then."""

    def __init__(self, cmd, threads):
        self.cmd, self.threads = cmd, threads
        self.tmp = tempfile.TemporaryDirectory()
        self.curves = os.path.join(self.tmp.name, "curves.csv")
        self.epoch_cpu, self.err_lines, self.out, self.quiet = {}, [], "", False

    def start(self, quiet=False):
        self.quiet = quiet
        env = dict(os.environ, CHAINJIT_CACHE_DIR=cache_dir())
        if self.threads:
            env["OPENBLAS_NUM_THREADS"] = str(self.threads)
            env["OMP_NUM_THREADS"] = str(self.threads)
        if not quiet:
            print("$ " + " ".join(self.cmd), flush=True)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd + ["--curves", self.curves], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.readers = [threading.Thread(target=self._read_err, daemon=True),
                        threading.Thread(target=self._read_out, daemon=True)]
        for t in self.readers:
            t.start()
        return self

    def _read_err(self):
        for line in self.proc.stderr:
            m = EPOCH_LINE.match(line)
            if m:
                self.epoch_cpu[int(m.group(1))] = _cpu_seconds(self.proc.pid)
                if not self.quiet:   # live, so that a run cut short still shows its epochs
                    print("chainjit %s  (CPU %.2f s since start)"
                          % (line.strip(), self.epoch_cpu[int(m.group(1))] or float("nan")), flush=True)
            self.err_lines.append(line)

    def _read_out(self):
        self.out = self.proc.stdout.read()

    def finish(self, quiet=False):
        for t in self.readers:   # first: /proc/PID stays readable until wait() reaps it
            t.join()
        self.proc.wait()
        self.wall = time.perf_counter() - self.started
        err = "".join(self.err_lines)
        if self.proc.returncode != 0:
            raise SystemExit("chainjit failed (exit %d):\n%s%s" % (self.proc.returncode, self.out, err))
        if not quiet:
            print(err.strip() + "\n" + self.out.strip(), flush=True)
        with open(self.curves) as f:
            rows = [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()}
                    for r in csv.DictReader(f)]
        before = 0.0
        for r in rows:
            now = self.epoch_cpu.get(int(r["epoch"]))
            r["cpu"] = None if now is None or before is None else now - before
            before = now
        self.tmp.cleanup()
        return rows


def run_chainjit(cmd, threads):
    """Runs `cmd` (a list, the tool first) to its end; the rows of ChainjitRun."""
    return ChainjitRun(cmd, threads).start().finish()


def compile_probe(cmd, threads, limit):
    """Times chainjit's compiling, which happens in its first epoch (a batch
    size's graphs are compiled when its first batch comes), so that the
    side-by-side run that follows has none of it in its epoch 1: `cmd` run
    for one epoch on the first `limit` samples (choose one full batch plus the
    full run's last, smaller batch, so that the same sizes are compiled), in
    the fresh cache directory the full run then reuses. Returns (wall seconds
    of that epoch, CPU seconds of the process up to its end): compiling (and
    calibrating the kernels for the new cache) plus a step or two."""
    probe = [a for a in cmd]
    for flag, value in (("--epochs", "1"), ("--limit", str(limit))):
        if flag in probe:
            probe[probe.index(flag) + 1] = value
        else:
            probe += [flag, value]
    rows = ChainjitRun(probe, threads).start(quiet=True).finish(quiet=True)
    return rows[0]["seconds"], rows[0]["cpu"]


def run_side_by_side(cmd, threads, concurrent, train_torch):
    """PyTorch's loop (train_torch(), returning its rows) and `chainjit train`
    (cmd): one after the other, or at the same time with concurrent."""
    if concurrent:
        run = ChainjitRun(cmd, threads).start()
        torch_rows = train_torch()
        return torch_rows, run.finish()
    torch_rows = train_torch()
    return torch_rows, run_chainjit(cmd, threads)


def _fmt(v, spec):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else spec % v


def print_table(metric, key, spec, torch_rows, cj_rows, probe=None):
    """One line per epoch: each side's test metric, wall seconds and CPU
    seconds. torch_rows: (metric, seconds, cpu seconds) per epoch; cj_rows:
    ChainjitRun's rows (key names the curves column, spec formats it);
    probe: compile_probe()'s result."""
    print()
    print("| epoch | PyTorch %s | chainjit %s | PyTorch s/epoch | chainjit s/epoch "
          "| PyTorch CPU s | chainjit CPU s |" % (metric, metric))
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for e in range(max(len(torch_rows), len(cj_rows))):
        tm, ts, tc = torch_rows[e] if e < len(torch_rows) else (None, None, None)
        c = cj_rows[e] if e < len(cj_rows) else {}
        print("| %d | %s | %s | %s | %s | %s | %s |" % (
            e + 1, _fmt(tm, spec), _fmt(c.get(key), spec), _fmt(ts, "%.2f"),
            _fmt(c.get("seconds"), "%.2f"), _fmt(tc, "%.2f"), _fmt(c.get("cpu"), "%.2f")))
    if probe and cj_rows:
        ps, pc = probe
        print("\nCompiling: a one-epoch run of chainjit on one batch (plus the last, smaller "
              "batch) in a fresh cache took %s s for its epoch and %s CPU s up to the epoch's "
              "end (starting, loading, calibrating and compiling included). The run above "
              "reused that cache: its epoch 1 compiled nothing." % (_fmt(ps, "%.2f"),
                                                                    _fmt(pc, "%.2f")))
    print("\nWall seconds: the training steps only. CPU seconds: the training steps and the "
          "test pass after them (chainjit's first epoch also starts the process and loads the data).")
