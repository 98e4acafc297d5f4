#!/usr/bin/env python3
"""The cost model of docs/distributed.md: predicted scaling efficiency of
data-parallel training at 2..64 nodes, and the global batch below which
adding nodes makes a step slower.

Per step on p nodes with global batch B (rows split evenly):
  compute    c * B / p                    c: seconds per row, measured on one core
  allreduce  2 (p-1) alpha + 2 (p-1)/p * n * beta   (ring, n gradient bytes)
  + ceil(log2 p) alpha                    the 24-byte message of loss, hits and
                                           the stop flag
speed-up S = c B / T_p, efficiency E = S / p. Communication stops paying off
where T_p >= c B, i.e. below B* = T_comm / (c (1 - 1/p)).

  python3 bench/scaling_model.py     # prints the Markdown tables of the docs
"""
import math

# Seconds per row of a training step on one core of this machine, from the
# measured epoch times of docs/training.md ("Measured"): time / (steps * batch).
MODELS = [
    # name, gradient bytes (f32 params * 4), seconds per row, the example's batch
    ("digits MLP", 9610 * 4, 0.044 / (1350 * 32), 32),
    ("digits CNN", 1898 * 4, 0.27 / (675 * 32), 32),
    ("Fashion MLP", 203530 * 4, 0.8 / (938 * 64), 64),
    ("Fashion CNN", 52266 * 4, 7.0 / (938 * 64), 64),
]

NETWORKS = [
    # name, alpha (s), beta (s/byte)
    ("10 Gb/s Ethernet, TCP (alpha 25 us, beta 0.8 ns/B)", 25e-6, 0.8e-9),
    ("100 Gb/s InfiniBand (alpha 2 us, beta 0.08 ns/B)", 2e-6, 0.08e-9),
]

NODES = [2, 4, 8, 16, 32, 64]


def comm(p, n, alpha, beta):
    ring = 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta
    return ring + math.ceil(math.log2(p)) * alpha


def main():
    for net, alpha, beta in NETWORKS:
        print(f"\n{net}\n")
        header = "| model (batch) | " + " | ".join(f"{p} nodes" for p in NODES)
        header += " | B* at 2 / 64 nodes |"
        print(header)
        print("|---" * (len(NODES) + 2) + "|")
        for name, n, c, batch in MODELS:
            cells = []
            for p in NODES:
                t1 = c * batch
                tp = c * batch / p + comm(p, n, alpha, beta)
                cells.append(f"{t1 / tp / p:.0%}")
            bstar = [comm(p, n, alpha, beta) / (c * (1 - 1 / p)) for p in (2, 64)]
            print(f"| {name} ({batch}) | " + " | ".join(cells) +
                  f" | {bstar[0]:.0f} / {bstar[1]:.0f} |")

    # Weak scaling: the global batch grows with the nodes, 256 rows each.
    net, alpha, beta = NETWORKS[0]
    print(f"\n{net}, 256 rows per node (global batch 256 p)\n")
    print("| model | " + " | ".join(f"{p} nodes" for p in NODES) + " |")
    print("|---" * (len(NODES) + 1) + "|")
    for name, n, c, _ in MODELS:
        cells = []
        for p in NODES:
            per_node = c * 256
            cells.append(f"{per_node / (per_node + comm(p, n, alpha, beta)):.0%}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
