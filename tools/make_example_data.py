#!/usr/bin/env python3
"""Writes the demo inputs of examples/data/ (committed; run this only to
change them). Needs only the Python standard library.

  mlp_x.csv       32 rows of 64 pixels in [0, 1]: 8x8 images of digits
  mlp_labels.csv  a header line 'label', then the 32 digits
  cnn_images.npy  f32 (16, 1, 8, 8): the first 16 images
  cnn_labels.npy  i32 (16,): their digits

The images are 5x7 glyphs of the digits 0-9 placed in an 8x8 frame at a
small offset, with a little deterministic noise."""
import os
import struct

GLYPHS = {
    0: ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    1: ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    2: ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    3: ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
    4: ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    5: ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    6: ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    7: ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    8: ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    9: ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
}

state = 12345


def rand():
    """A small LCG in [0, 1): the same numbers on every machine."""
    global state
    state = (state * 1103515245 + 12345) % (1 << 31)
    return state / float(1 << 31)


def image(digit):
    dx, dy = int(rand() * 4), int(rand() * 2)
    pixels = [0.0] * 64
    for r, row in enumerate(GLYPHS[digit]):
        for c, bit in enumerate(row):
            if bit == "1":
                pixels[(r + dy) * 8 + c + dx] = 1.0
    return [round(min(1.0, max(0.0, p * 0.9 + rand() * 0.2 - 0.05)), 3) for p in pixels]


def npy(path, descr, shape, data):
    shp = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shp)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "data")
    os.makedirs(out, exist_ok=True)
    labels = [(i * 7 + 3) % 10 for i in range(32)]
    images = [image(d) for d in labels]
    with open(os.path.join(out, "mlp_x.csv"), "w") as f:
        for img in images:
            f.write(",".join("%g" % p for p in img) + "\n")
    with open(os.path.join(out, "mlp_labels.csv"), "w") as f:
        f.write("label\n" + "".join("%d\n" % d for d in labels))
    flat = [p for img in images[:16] for p in img]
    npy(os.path.join(out, "cnn_images.npy"), "<f4", (16, 1, 8, 8), struct.pack("<%df" % len(flat), *flat))
    npy(os.path.join(out, "cnn_labels.npy"), "<i4", (16,), struct.pack("<16i", *labels[:16]))


if __name__ == "__main__":
    main()
