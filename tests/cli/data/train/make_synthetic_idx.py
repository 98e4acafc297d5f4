#!/usr/bin/python3
"""Writes a small synthetic stand-in for Fashion-MNIST in its IDX format
(gzipped), for the tests of examples/lstm_fashion.cj where the real data is
not installed: 28x28 u8 images of 10 classes, class c a bright vertical band
at columns 2c+4..2c+6 over sparse noise, so a model reading the rows as time steps
can tell the classes apart from any row.

    /usr/bin/python3 make_synthetic_idx.py OUT_DIR [--train 500] [--test 100]

writes OUT_DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. numpy only,
fixed seed.
"""
import argparse
import gzip
import os
import struct

import numpy as np


def images(rng, labels):
    x = rng.integers(0, 60, size=(len(labels), 28, 28), dtype=np.uint8)
    x[rng.random(x.shape) > 0.05] = 0   # sparse noise: the gzipped files stay small
    for k, c in enumerate(labels):
        x[k, :, 2 * c + 4:2 * c + 7] = 230
    return x


def write(path, magic, data):
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in data.shape))
        f.write(data.astype(np.uint8).tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=500)
    ap.add_argument("--test", type=int, default=100)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    rng = np.random.default_rng(11)
    for prefix, n in (("train", a.train), ("t10k", a.test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        write(os.path.join(a.out_dir, f"{prefix}-images-idx3-ubyte.gz"), 0x803, images(rng, labels))
        write(os.path.join(a.out_dir, f"{prefix}-labels-idx1-ubyte.gz"), 0x801, labels)


if __name__ == "__main__":
    main()
