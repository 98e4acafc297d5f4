#!/usr/bin/env python3
"""Regenerates the fuzz seed corpora (fuzz/corpus/<target>/) and the .cj
dictionary (fuzz/parse_cj.dict) from files of the repository.

    python3 fuzz/make_corpus.py

Text seeds are copies of the repository's own examples and test inputs; the
binary seeds (.npy, IDX, checkpoints, gzip) are written here byte by byte, so
nothing but the Python standard library is needed. The output is
deterministic (gzip mtime 0), so rerunning it changes nothing unless the
sources changed. docs/fuzzing.md describes the targets.
"""
import gzip
import pathlib
import re
import shutil
import struct
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
CORPUS = FUZZ / "corpus"


def fresh(target):
    d = CORPUS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def gz(data):
    return gzip.compress(data, mtime=0)


# ---------------------------------------------------------------- .cj ----

def parse_cj():
    d = fresh("parse_cj")
    for pattern in ["examples/*.cj", "tests/malformed/*.cj", "tests/cli/data/*.cj"]:
        for src in sorted(ROOT.glob(pattern)):
            prefix = src.parent.name
            shutil.copyfile(src, d / f"{prefix}_{src.name}")


def parse_cj_dict():
    ops = re.findall(r'CHAINJIT_OP\(\w+,\s*"(\w+)"\)',
                     (ROOT / "ir/include/chainjit/ir/ops.def").read_text())
    attrs = set()
    for src in sorted((ROOT / "ir/ops").glob("*Ops.cpp")):
        attrs.update(re.findall(r'\{"(\w+)",\s*Attr', src.read_text()))
    words = ["graph", "input", "param", "const", "output", "update", "func", "return",
             "%", "=", ":",
             ",", "(", ")", "[", "]", "{", "}", "#", "->", "true", "false", "nan",
             "inf", "-inf", "1e308", "1e-320", "-0.0", "2147483648", "9223372036854775807",
             "18446744073709551616", "\"", "\\\"", "\\n",
             "glorot", "he", "normal", "uniform", "zeros", "ones", "trainable"]
    dtypes = ["f32", "f64", "i32", "bool"]
    lines = ["# The .cj syntax for the parse_cj fuzz target: keywords, punctuation,",
             "# dtypes, every op name from ir/include/chainjit/ir/ops.def and every",
             "# attribute name from ir/ops/*Ops.cpp. Written by fuzz/make_corpus.py."]
    seen = set()
    for w in words + dtypes + [t + "[2, 3]" for t in dtypes] + ops + sorted(attrs):
        if w in seen:
            continue
        seen.add(w)
        esc = w.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'"{esc}"')
    (FUZZ / "parse_cj.dict").write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- .npy ----

def npy(descr, shape, data, major=1, order="False"):
    shape_text = f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    header = f"{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape_text}, }}"
    pre = 10 if major == 1 else 12
    header += " " * ((64 - (pre + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H" if major == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header.encode() + data


def read_npy():
    d = fresh("read_npy")
    for pattern in ["tests/cli/data/*.npy", "examples/data/*.npy"]:
        for src in sorted(ROOT.glob(pattern)):
            if src.stat().st_size <= 4096:
                shutil.copyfile(src, d / f"{src.parent.name}_{src.name}")
    seeds = {
        "f32_2x3": npy("<f4", (2, 3), struct.pack("<6f", 1, -2, 0.5, 3, 1e-30, -0.0)),
        "f64_3": npy("<f8", (3,), struct.pack("<3d", float("inf"), 1 / 3, float("nan"))),
        "i32_scalar": npy("<i4", (), struct.pack("<i", -5)),
        "b1_2x2": npy("|b1", (2, 2), b"\x01\x00\x00\x01"),
        "u1_2": npy("|u1", (2,), b"\x01\x00"),
        "f32_empty": npy("<f4", (0, 4), b""),
        "f64_v2": npy("<f8", (1, 2), struct.pack("<2d", 1.5, 2.5), major=2),
        "f32_rank4": npy("<f4", (1, 2, 1, 2), struct.pack("<4f", 1, 2, 3, 4)),
        "fortran": npy("<f4", (2, 2), struct.pack("<4f", 1, 2, 3, 4), order="True"),
        "big_endian": npy(">f4", (1,), struct.pack(">f", 1)),
        "i8": npy("<i8", (1,), struct.pack("<q", 1)),
    }
    for name, data in seeds.items():
        (d / f"{name}.npy").write_bytes(data)


# ---------------------------------------------------------------- CSV ----

def read_csv():
    d = fresh("read_csv")
    for src in sorted(ROOT.glob("tests/cli/data/*.csv")):
        shutil.copyfile(src, d / f"cli_{src.name}")
    shutil.copyfile(ROOT / "examples/data/mlp_labels.csv", d / "mlp_labels.csv")
    mlp = (ROOT / "examples/data/mlp_x.csv").read_text().splitlines()
    (d / "mlp_x_head.csv").write_text("\n".join(mlp[:4]) + "\n")
    digits = gzip.decompress((ROOT / "examples/data/digits.csv.gz").read_bytes())
    head = b"\n".join(digits.splitlines()[:6]) + b"\n"
    (d / "digits_head.csv").write_bytes(head)
    (d / "digits_head.csv.gz").write_bytes(gz(head))
    seeds = {
        "header_label_last.csv": b"x,y,label\n1, 2, 0\n3,4,2\n\n# note\n5,6,1\n",
        "label_first.csv": b"0,1.5,-2e3\n1,nan,inf\n2,+7,0x1\n",
        "crlf.csv": b"a,b\r\n1,2\r\n3,4\r\n",
        "ragged.csv": b"1,2,0\n3,4\n",
        "two_members.csv.gz": gz(b"1,2,0\n") + gz(b"3,4,1\n"),
    }
    for name, data in seeds.items():
        (d / name).write_bytes(data)


# ---------------------------------------------------------------- IDX ----

def idx(magic_rank, dims, data):
    return struct.pack(">I", 0x800 | magic_rank) + b"".join(
        struct.pack(">I", x) for x in dims) + data


def idx_pair(images, labels):
    """The read_idx target's input: u16 little-endian images length, images, labels."""
    return struct.pack("<H", len(images)) + images + labels


def read_idx():
    d = fresh("read_idx")
    images = idx(3, (3, 2, 2), bytes(range(12)))
    labels = idx(1, (3,), b"\x07\x00\x09")
    seeds = {
        "plain": idx_pair(images, labels),
        "gzip": idx_pair(gz(images), gz(labels)),
        "one_image_4x3": idx_pair(idx(3, (1, 4, 3), bytes(range(12))), idx(1, (1,), b"\x05")),
        "empty": idx_pair(idx(3, (0, 28, 28), b""), idx(1, (0,), b"")),
        "swapped": idx_pair(labels, images),
        "truncated": idx_pair(images[:20], labels),
        "count_mismatch": idx_pair(images, idx(1, (2,), b"\x01\x02")),
        # Issue 9, defect 3: dimensions whose product wraps a 64-bit count.
        "wrapping_dims": idx_pair(idx(3, (2, 0x80010001, 0xFFFE0002), b"\x00" * 8),
                                  idx(1, (2,), b"\x00\x01")),
    }
    for name, data in seeds.items():
        (d / f"{name}.bin").write_bytes(data)


# ---------------------------------------------------------------- checkpoints ----

DTYPES = {"f32": (0, "<f"), "f64": (1, "<d"), "i32": (2, "<i"), "bool": (3, "<B")}


def checkpoint(tensors):
    """tensors: {name: (dtype, shape, values)}, written as Checkpoint.h says."""
    body = b"CJCKPT01" + struct.pack("<IQQ", 1, 0, len(tensors))
    for name in sorted(tensors, key=lambda n: n.encode()):
        dtype, shape, values = tensors[name]
        code, fmt = DTYPES[dtype]
        data = b"".join(struct.pack(fmt, v) for v in values)
        body += struct.pack("<I", len(name.encode())) + name.encode()
        body += struct.pack("<BI", code, len(shape))
        body += b"".join(struct.pack("<q", x) for x in shape)
        body += struct.pack("<Q", len(data)) + data
    total = len(body) + 4
    body = body[:12] + struct.pack("<Q", total) + body[20:]
    return body + struct.pack("<I", zlib.crc32(body))


def read_checkpoint():
    d = fresh("read_checkpoint")
    shutil.copyfile(ROOT / "tests/cli/data/train_corrupt.ckpt", d / "train_corrupt.ckpt")
    seeds = {
        "empty": {},
        "every_dtype": {
            "b1": ("f64", (3,), (float("inf"), 1 / 3, -7)),
            "mask": ("bool", (2, 2), (1, 0, 0, 1)),
            "step": ("i32", (), (1234,)),
            "w1": ("f32", (2, 3), (1.5, -2, 0, 3.25, 1e-30, -0.0)),
        },
        "empty_tensor": {"e": ("f32", (0, 4), ())},
        "training": {
            "history.train_loss": ("f64", (2,), (2.3, 1.1)),
            "param.W": ("f32", (2, 2), (0.1, 0.2, 0.3, 0.4)),
            "param.b": ("f32", (2,), (0, 0)),
            "train.epoch": ("f64", (), (2,)),
            "train.settings": ("f64", (6,), (0, 0, 16, 0, 42, 100)),
            "train.step": ("f64", (), (14,)),
        },
    }
    for name, tensors in seeds.items():
        (d / f"{name}.ckpt").write_bytes(checkpoint(tensors))
    # Issue 9, defect 2: f64[2^61] with 0 data bytes and a valid checksum.
    body = b"CJCKPT01" + struct.pack("<IQQ", 1, 0, 1)
    body += struct.pack("<I", 1) + b"w" + struct.pack("<BI", 1, 1)
    body += struct.pack("<q", 1 << 61) + struct.pack("<Q", 0)
    body = body[:12] + struct.pack("<Q", len(body) + 4) + body[20:]
    (d / "wrapping_byte_length.ckpt").write_bytes(body + struct.pack("<I", zlib.crc32(body)))


def read_npz():
    d = fresh("read_npz")
    for src in sorted(ROOT.glob("tests/cli/data/*.npz")):
        shutil.copyfile(src, d / src.name)
    import io
    import zipfile
    w = npy("<f4", (2,), struct.pack("<2f", 1.5, -2.0))
    b = npy("|b1", (3,), bytes([1, 0, 1]))
    for name, method in [("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", method) as z:
            z.writestr("w.npy", w)
            z.writestr("mask.npy", b)
        (d / f"{name}.npz").write_bytes(buf.getvalue())


# ---------------------------------------------------------------- ONNX ----

def import_onnx():
    # The small models of tests/fixtures/onnx (made by
    # tests/fixtures/make_onnx_models.py): good ones of every operator group
    # and bad ones of each kind of error; the large CNN is left out.
    d = fresh("import_onnx")
    for src in sorted((ROOT / "tests" / "fixtures" / "onnx").glob("*.onnx")):
        if src.stat().st_size <= 4096:
            shutil.copyfile(src, d / src.name)


if __name__ == "__main__":
    parse_cj()
    parse_cj_dict()
    read_npy()
    read_csv()
    read_idx()
    read_checkpoint()
    read_npz()
    for t in sorted(CORPUS.iterdir()):
        print(f"{t.name}: {len(list(t.iterdir()))} seeds")
    import_onnx()
