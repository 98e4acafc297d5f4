#!/usr/bin/python3
"""Writes bigram.npz, the params of bigram.cj: a character bigram model over
the 30-symbol vocabulary of examples/make_char_words.py (vocab.txt here),
for the `chainjit sample` tests. Row i of %table holds the logits of the
symbol after symbol i: the log of the bigram counts of the words below
(plus 0.1 each, so that every symbol stays possible). numpy only.

    /usr/bin/python3 tests/cli/data/sample/make_bigram.py
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = """chain rule graph tensor derivative adjoint tangent matrix jacobian hessian
gradient compiler kernel batch epoch sample token model layer attention word letter
train test loss value param input output scan gather scatter sparse dense order
planner cost sweep forward backward reverse mode chain's model's""".split()


def main():
    vocab = open(os.path.join(HERE, "vocab.txt"), encoding="utf-8").read().split("\n")[:-1]
    ids = {s: i for i, s in enumerate(vocab)}
    counts = np.full((len(vocab), len(vocab)), 0.1)
    for w in WORDS:
        seq = [ids["<begin>"]] + [ids[c] for c in w] + [ids["<end>"]]
        for a, b in zip(seq, seq[1:]):
            counts[a, b] += 1
    np.savez(os.path.join(HERE, "bigram.npz"), table=np.log(counts).astype(np.float32))


if __name__ == "__main__":
    main()
