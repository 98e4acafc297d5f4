#!/usr/bin/python3
"""The character-level Transformer language model (examples/char_transformer.cj,
issue 11 example 2) in PyTorch, side by side with `chainjit train`.

The same model: token and learned position embeddings (nn.Embedding, N(0, 1)),
two nn.TransformerEncoderLayer(32, 4, 64, dropout=0, activation="gelu",
batch_first=True, norm_first=True) with a causal mask, a final LayerNorm and
a Linear head to the 30 symbols; PyTorch's default initialization (the
family char_transformer.cj declares), the masked mean cross-entropy per
character, Adam, the same learning rate, batch 64, epochs, and the same .npy
windows (examples/make_char_words.py; written to DATA_DIR when missing).
Both run on one thread by default (torch.set_num_threads,
OPENBLAS_NUM_THREADS). Prints each side's validation loss in nats per
character, seconds and CPU seconds per epoch in one table.

  /usr/bin/python3 bench/char_transformer_torch.py [--data-dir /tmp/words]
      [--epochs 3] [--lr 0.003] [--threads 1] [--limit N] [--concurrent]
      [--checkpoint FILE] [--chainjit build/chainjit]

--limit N makes the data from the first N shuffled words only (a quick run).
--concurrent runs `chainjit train` at the same time as PyTorch's loop, one
process each, so that on a shared machine both see the same load (the
epoch times are then comparable to each other, not to an idle machine's;
seq_side_by_side.py, shared with the other sequence benchmarks).
Exits 0 with a note when PyTorch is not installed.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seq_side_by_side import compile_probe, find_chainjit, print_table, run_side_by_side  # noqa: E402

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("PyTorch is not installed (Debian: apt-get install python3-torch): skipped")
    sys.exit(0)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# As examples/char_transformer.cj declares them.
BATCH, CONTEXT, EMBED, HEADS, FF, VOCAB, LAYERS = 64, 16, 32, 4, 64, 30, 2


class CharTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, EMBED)
        self.pos = nn.Embedding(CONTEXT, EMBED)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(EMBED, HEADS, FF, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(LAYERS))
        self.norm = nn.LayerNorm(EMBED)
        self.head = nn.Linear(EMBED, VOCAB)
        # -inf above the diagonal: position t sees positions <= t.
        self.register_buffer("causal", torch.triu(
            torch.full((CONTEXT, CONTEXT), float("-inf")), diagonal=1))

    def forward(self, tokens):
        h = self.tok(tokens) + self.pos.weight
        for block in self.blocks:
            h = block(h, src_mask=self.causal)
        return self.head(self.norm(h))  # [N, T, VOCAB]


def masked_loss(model, tokens, targets, mask):
    """The sum of -log p(target) over the counted positions, and their count."""
    logp = torch.log_softmax(model(tokens), dim=-1)
    picked = logp.gather(2, targets.long().unsqueeze(2)).squeeze(2)
    return -(picked * mask).sum(), mask.sum()


def evaluate(model, data):
    total, count = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(data[0]), BATCH):
            s, c = masked_loss(model, *(d[i:i + BATCH] for d in data))
            total, count = total + float(s), count + float(c)
    return total / count


def train_torch(files, epochs, lr, seed):
    train = [torch.from_numpy(np.load(files["train_" + k])) for k in ("tokens", "targets", "mask")]
    val = [torch.from_numpy(np.load(files["val_" + k])) for k in ("tokens", "targets", "mask")]
    torch.manual_seed(seed)
    model = CharTransformer()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rows = []
    n = len(train[0])
    for epoch in range(epochs):
        start, cpu = time.perf_counter(), time.process_time()
        order = torch.randperm(n)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            s, c = masked_loss(model, *(d[idx] for d in train))
            (s / c).backward()
            opt.step()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        rows.append((evaluate(model, val), seconds, cpu))
        print("torch epoch %d/%d  val loss %.4f nats/char  %.2f s (%.2f s of CPU)"
              % (epoch + 1, epochs, rows[-1][0], seconds, cpu), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="/tmp/words")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--concurrent", action="store_true")
    ap.add_argument("--checkpoint", default=None, help="chainjit train --checkpoint (to sample from)")
    ap.add_argument("--chainjit", default=None)
    a = ap.parse_args()
    files = {f"{s}_{v}": os.path.join(a.data_dir, f"{s}_{v}.npy")
             for s in ("train", "val") for v in ("tokens", "targets", "mask")}
    if not all(os.path.exists(f) for f in files.values()):
        subprocess.run([sys.executable, os.path.join(ROOT, "examples", "make_char_words.py"),
                        a.data_dir] + (["--limit", str(a.limit)] if a.limit else []), check=True)
    torch.set_num_threads(a.threads)
    print("PyTorch %s, %d thread(s)" % (torch.__version__, a.threads))
    data = lambda s: ",".join(f"{v}={files[s + '_' + v]}" for v in ("tokens", "targets", "mask"))
    cmd = [find_chainjit(a.chainjit), "train", os.path.join(ROOT, "examples", "char_transformer.cj"),
           "--data", data("train"), "--test-data", data("val"),
           "--optimizer", "adam", "--lr", str(a.lr), "--batch", str(BATCH),
           "--eval-batch", str(BATCH), "--epochs", str(a.epochs), "--seed", str(a.seed)]
    if a.checkpoint:
        cmd += ["--checkpoint", a.checkpoint, "--overwrite"]
    # The sizes the full run compiles: a full batch and the last, smaller one (if any).
    probe = compile_probe(cmd, a.threads,
                          BATCH + len(np.load(files["train_tokens"], mmap_mode="r")) % BATCH)
    torch_rows, cj_rows = run_side_by_side(cmd, a.threads, a.concurrent,
                                           lambda: train_torch(files, a.epochs, a.lr, a.seed))
    print_table("val nats/char", "val_loss", "%.4f", torch_rows, cj_rows, probe)


if __name__ == "__main__":
    main()
