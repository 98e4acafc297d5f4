#!/usr/bin/python3
"""Writes next-character training windows of a word list as .npy files.

The character-level language model of examples/char_transformer.cj learns
to spell words: it reads `<begin>` and the first t characters of a word and
predicts character t + 1 (or `<end>` after the last one). The words come
from Debian's wamerican list, /usr/share/dict/words (apt-get install
wamerican), or any UTF-8 file of one word per line.

The vocabulary is fixed, 30 symbols, the ids of vocab.txt's lines:

    0 <pad>   1 <begin>   2 <end>   3..28 a..z   29 '

Words are folded to it: lowercase, accents dropped (NFKD: e-acute -> e),
then duplicates removed ("Bill" and "bill" are one word); a word with any
other character is skipped and counted. The words are shuffled with --seed
and split into training and validation words (--validation fraction), so
no validation word is seen in training.

Each word w of length L is the sequence <begin> w_1 .. w_L (inputs) with
targets w_1 .. w_L <end>, L + 1 positions. A window holds CONTEXT (16)
positions: a word with L < CONTEXT is one window, its tail padded with
<pad> inputs and targets and mask 0. A longer word gets its first window
and then one window per further position, shifted by one, in which only
the last position counts (mask 1): exactly the contexts a sampler sees
when its window slides (docs/models.md), and every target is counted once.
The number of windows is padded up to a multiple of --batch (default 64)
with all-<pad> rows of mask 0, which add nothing to the loss. The model does
not need it (the trainer rebuilds it for any batch size, the last, smaller
batch of an epoch included); the default keeps the files as earlier
versions wrote them, and --batch 1 writes no padding rows.

    /usr/bin/python3 examples/make_char_words.py OUT_DIR [--words FILE]
        [--limit N] [--validation 0.1] [--seed 0] [--batch 64] [--context 16]

writes OUT_DIR/vocab.txt and OUT_DIR/{train,val}_{tokens,targets,mask}.npy:
tokens and targets i32[N, CONTEXT], mask f32[N, CONTEXT]. numpy only.
"""
import argparse
import os
import sys
import unicodedata

import numpy as np

PAD, BEGIN, END = 0, 1, 2
SPECIALS = ["<pad>", "<begin>", "<end>"]
CHARS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"]
VOCAB = SPECIALS + CHARS
CHAR_ID = {c: i + len(SPECIALS) for i, c in enumerate(CHARS)}


def fold(word):
    """The word in the vocabulary's characters, or None if it cannot be."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", word.lower())
                    if not unicodedata.combining(c))
    return plain if plain and all(c in CHAR_ID for c in plain) else None


def read_words(path):
    if not os.path.exists(path):
        sys.exit(f"{path}: no such file. The default word list is Debian's wamerican: "
                 "apt-get install wamerican (or pass another list with --words FILE)")
    with open(path, encoding="utf-8") as f:
        raw = [line.strip() for line in f if line.strip()]
    words, skipped, seen = [], 0, set()
    for w in raw:
        folded = fold(w)
        if folded is None:
            skipped += 1
        elif folded not in seen:
            seen.add(folded)
            words.append(folded)
    return raw, words, skipped


def windows(words, context, batch):
    tokens, targets, mask = [], [], []
    for w in words:
        ids = [CHAR_ID[c] for c in w]
        inp, tgt = [BEGIN] + ids, ids + [END]
        n = len(inp)
        first = min(n, context)
        row_in = inp[:first] + [PAD] * (context - first)
        row_tgt = tgt[:first] + [PAD] * (context - first)
        tokens.append(row_in)
        targets.append(row_tgt)
        mask.append([1.0] * first + [0.0] * (context - first))
        for start in range(1, n - context + 1):  # the window slides by one
            tokens.append(inp[start:start + context])
            targets.append(tgt[start:start + context])
            mask.append([0.0] * (context - 1) + [1.0])
    rows = -(-len(tokens) // batch) * batch
    for _ in range(rows - len(tokens)):
        tokens.append([PAD] * context)
        targets.append([PAD] * context)
        mask.append([0.0] * context)
    return (np.array(tokens, dtype=np.int32), np.array(targets, dtype=np.int32),
            np.array(mask, dtype=np.float32))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--words", default="/usr/share/dict/words",
                    help="one word per line (default: wamerican's /usr/share/dict/words)")
    ap.add_argument("--limit", type=int, default=0,
                    help="use only the first N words after shuffling (0: all)")
    ap.add_argument("--validation", type=float, default=0.1,
                    help="the fraction of the words kept for validation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64,
                    help="pad the windows to a multiple of this with rows of mask 0 "
                         "(default 64; 1: no padding)")
    ap.add_argument("--context", type=int, default=16)
    a = ap.parse_args()
    if not 0 < a.validation < 1:
        sys.exit(f"--validation {a.validation}: must be between 0 and 1")
    if a.batch < 1 or a.context < 1 or a.limit < 0:
        sys.exit("--batch and --context must be positive, --limit at least 0")

    raw, words, skipped = read_words(a.words)
    rng = np.random.default_rng(a.seed)
    words = [words[i] for i in rng.permutation(len(words))]
    if a.limit:
        words = words[:a.limit]
    n_val = max(1, int(round(len(words) * a.validation)))
    if n_val >= len(words):
        sys.exit(f"{a.words}: {len(words)} words are too few to split")
    splits = {"train": words[n_val:], "val": words[:n_val]}

    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in VOCAB))
    print(f"{a.words}: {len(raw)} lines, {len(words)} distinct words used "
          f"({skipped} skipped: characters outside a-z and ')")
    for split, ws in splits.items():
        tok, tgt, msk = windows(ws, a.context, a.batch)
        for name, arr in (("tokens", tok), ("targets", tgt), ("mask", msk)):
            np.save(os.path.join(a.out_dir, f"{split}_{name}.npy"), arr)
        print(f"{split}: {len(ws)} words, {tok.shape[0]} windows of {a.context} "
              f"({int(msk.sum())} predicted characters)")
    print(f"vocabulary: {len(VOCAB)} symbols -> {os.path.join(a.out_dir, 'vocab.txt')}")


if __name__ == "__main__":
    main()
