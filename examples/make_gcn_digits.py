#!/usr/bin/python3
"""Prepares the graph of examples/gcn_digits.cj: a k-nearest-neighbour graph
(k = 10, symmetrized) of the UCI digits in examples/data/digits.csv.gz, for
semi-supervised node classification (Kipf and Welling's GCN).

    /usr/bin/python3 examples/make_gcn_digits.py OUT_DIR [--seed S]

writes to OUT_DIR (created if missing):
  x.npy        f32 [1797, 64]  the pixel counts scaled to [0, 1]
  labels.npy   i32 [1797]      the digit of each node
  row_ptr.npy  i32 [1798]      the normalized adjacency with self-loops,
  col_idx.npy  i32 [nnz]         D^-1/2 (A + I) D^-1/2, as CSR
  values.npy   f32 [nnz]
  train.npy    bool [1797]     10 labelled nodes per class (seeded draw)
  val.npy      bool [1797]     200 further nodes, for model selection
  test.npy     bool [1797]     every other node (the unlabelled ones)

The graph itself does not depend on the seed; only the masks do. Needs NumPy
only. The sizes printed at the end are the ones examples/gcn_digits.cj
declares (nnz is fixed by the data: ties in the distances break by index).
"""
import argparse
import gzip
import os
import sys

import numpy as np

K = 10
TRAIN_PER_CLASS = 10
VALIDATION = 200

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('out_dir')
parser.add_argument('--seed', type=int, default=0, help='seed of the masks (default 0)')
parser.add_argument('--data', default=os.path.join(here, 'data', 'digits.csv.gz'))
args = parser.parse_args()

with gzip.open(args.data, 'rt') as f:
    table = np.loadtxt(f, delimiter=',', dtype=np.float64)
if table.ndim != 2 or table.shape[1] != 65:
    sys.exit(f'{args.data}: expected 65 columns (64 features, the label), got shape {table.shape}')
feats = table[:, :64] / 16.0
labels = table[:, 64].astype(np.int32)
n = len(labels)

# k nearest neighbours by Euclidean distance (a node is not its own
# neighbour); a stable sort breaks ties by index, so the graph is fixed.
sq = (feats ** 2).sum(1)
dist = sq[:, None] + sq[None, :] - 2.0 * feats @ feats.T
np.fill_diagonal(dist, np.inf)
nearest = np.argsort(dist, axis=1, kind='stable')[:, :K]
adj = np.zeros((n, n), dtype=bool)
adj[np.repeat(np.arange(n), K), nearest.ravel()] = True
adj |= adj.T                      # symmetrize: an edge if either chose the other
adj |= np.eye(n, dtype=bool)      # self-loops

deg = adj.sum(1).astype(np.float64)
rows, cols = np.nonzero(adj)      # row-major order: CSR order
values = 1.0 / np.sqrt(deg[rows] * deg[cols])
row_ptr = np.concatenate([[0], np.cumsum(adj.sum(1))]).astype(np.int32)

rng = np.random.default_rng(args.seed)
order = rng.permutation(n)
train = np.concatenate([order[labels[order] == c][:TRAIN_PER_CLASS] for c in range(10)])
rest = order[~np.isin(order, train)]
val = rest[:VALIDATION]
masks = {}
for name, idx in (('train', train), ('val', val)):
    m = np.zeros(n, dtype=bool)
    m[idx] = True
    masks[name] = m
masks['test'] = ~(masks['train'] | masks['val'])

os.makedirs(args.out_dir, exist_ok=True)
out = lambda name: os.path.join(args.out_dir, name)
np.save(out('x.npy'), feats.astype(np.float32))
np.save(out('labels.npy'), labels)
np.save(out('row_ptr.npy'), row_ptr)
np.save(out('col_idx.npy'), cols.astype(np.int32))
np.save(out('values.npy'), values.astype(np.float32))
for name, m in masks.items():
    np.save(out(name + '.npy'), m)
same = (labels[rows] == labels[cols]).mean()
print(f'{n} nodes, {len(cols)} adjacency entries (self-loops included), '
      f'{same:.1%} of them join nodes of the same class; '
      f'{masks["train"].sum()} train, {masks["val"].sum()} validation, '
      f'{masks["test"].sum()} test nodes -> {args.out_dir}')
