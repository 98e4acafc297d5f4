#!/usr/bin/env python3
"""Writes the .npz fixtures of the tests with NumPy, so that the suite checks
that archives NumPy writes read correctly (the suite itself needs no NumPy):

    cd tests/cli/data && python3 make_npz.py   (Debian: apt-get install python3-numpy)

With the path of an archive chainjit wrote (`chainjit params export ...`),
it checks instead that NumPy loads it and prints what it holds:

    python3 make_npz.py --check weights.npz
"""
import io
import sys
import warnings
import zipfile

import numpy as np


def check(path):
    with np.load(path) as z:
        for name in z.files:
            a = z[name]
            print(f"{name}: {a.dtype} {list(a.shape)} sum {float(a.astype(np.float64).sum())!r}")


def savez_bytes(compressed=False, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    mixed = dict(a=np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
                 b=np.array([1.5, -2.25, 1e300, 0.0], dtype=np.float64),
                 c=np.array(7, dtype=np.int32),
                 d=np.array([True, False]))
    np.savez("mixed.npz", **mixed)                    # stored members
    np.savez_compressed("mixed_compressed.npz", **mixed)  # deflated members
    # affine.cj's one param %w : f32[3].
    np.savez("affine_w.npz", w=np.array([2, 2, 2], dtype=np.float32))
    np.savez_compressed("affine_w_f64.npz", w=np.array([0.5, 1, 2], dtype=np.float64))
    np.savez("affine_w_shape.npz", w=np.ones(4, dtype=np.float32))
    np.savez("affine_unknown.npz", w=np.ones(3, dtype=np.float32), v=np.ones(3, dtype=np.float32))
    # digits_mlp.cj without W2 and b2.
    np.savez_compressed("digits_partial.npz", W1=np.zeros((64, 128), np.float32),
                        b1=np.zeros(128, np.float32))
    good = savez_bytes(w=np.array([2, 2, 2], dtype=np.float32))
    with open("npz_truncated.npz", "wb") as f:
        f.write(good[: len(good) // 2])
    # A stored member whose data has one byte changed: the CRC-32 differs.
    at = good.index(b"\x00\x00\x00\x40")  # the float 2.0's high bytes
    with open("npz_bad_crc.npz", "wb") as f:
        f.write(good[:at + 3] + b"\x41" + good[at + 4:])
    with zipfile.ZipFile("npz_not_npy.npz", "w") as z:
        z.writestr("w.npy", b"this is not a .npy file")
    with zipfile.ZipFile("npz_wrong_name.npz", "w") as z:
        z.writestr("w.txt", np.lib.format.header_data_from_array_1_0(np.ones(3)).__repr__())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile("npz_duplicate.npz", "w") as z:
            for _ in range(2):
                buf = io.BytesIO()
                np.save(buf, np.ones(3, dtype=np.float32))
                z.writestr("w.npy", buf.getvalue())


if __name__ == "__main__":
    main()
