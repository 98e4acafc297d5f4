"""The PyTorch side of the recomputation benchmarks' tables
(bench/recompute_torch.py, bench/scan_recompute_torch.py; the C++ side is
bench/MemoryPoints.h): PyTorch's rows, one per number of
checkpoint_sequential segments, and the side-by-side table against the
memory points of the chainjit benchmark's --results file.

A PyTorch row is (segments, saved peak in bytes, recomputation in forward
passes, step in seconds); segments 1 is no checkpointing.
"""


def segments_name(s):
    return "none" if s == 1 else s


def print_segments(rows, decimals):
    print(f"{'segments':>9} {'saved peak (MiB)':>17} {'recompute/fwd':>14} {'step':>12} {'/ none':>8}")
    for s, peak, rec, t in rows:
        print(f"{segments_name(s):>9} {peak / 2**20:>17.{decimals}f} {rec:>14.3f} "
              f"{t * 1e3:>9.1f} ms {t / rows[0][3]:>7.2f}x")


def read_jit(path):
    """The chainjit benchmark's memory points: (name, limit, peak, recompute, step)."""
    points = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if p[0] != "config":
                points.append((p[0], float(p[1]), float(p[2]), float(p[4]), float(p[5])))
    return points


def print_side_by_side(rows, jit, decimals, which, pick, full_tape_row=False):
    """For each memory point of chainjit, the PyTorch row whose saved peak fits
    it that `pick` (a key for min) prefers, described as `which`; with
    full_tape_row, chainjit's full tape (no limit) is compared with PyTorch
    without checkpointing."""
    full = jit[0][2]
    print(f"\nSide by side: for each memory of chainjit, {which}")
    print(f"{'memory':>7} {'limit MiB':>10} | {'chainjit peak':>13} {'recomp':>7} {'step':>10} "
          f"{'+recomp':>9} | {'torch segs':>10} {'peak':>7} {'recomp':>7} {'step':>10} {'+recomp':>9}")
    for name, limit, peak, rec, t in jit:
        budget = limit if limit > 0 else full
        fits = [rows[0]] if full_tape_row and limit == 0 else [r for r in rows if r[1] <= budget]
        line = (f"{name:>7} {budget / 2**20:>10.{decimals}f} | {peak / 2**20:>13.{decimals}f} "
                f"{rec:>7.3f} {t * 1e3:>7.1f} ms {(t - jit[0][4]) * 1e3:>6.1f} ms | ")
        if fits:
            s, tpeak, trec, tt = min(fits, key=pick)
            line += (f"{segments_name(s):>10} {tpeak / 2**20:>7.{decimals}f} {trec:>7.3f} "
                     f"{tt * 1e3:>7.1f} ms {(tt - rows[0][3]) * 1e3:>6.1f} ms")
        else:
            line += f"{'none fits':>10}"
        print(line)
