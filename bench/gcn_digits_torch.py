#!/usr/bin/python3
"""GCN on the digits graph (issue 11, example 3): PyTorch and chainjit side
by side.

For each seed s: examples/make_gcn_digits.py prepares the graph with masks
seeded s; PyTorch trains the two-layer GCN of examples/gcn_digits.cj (64 ->
32 -> 10, relu, dropout 0.5 on the input and the hidden layer, biases,
Glorot-uniform weights and zero biases, Adam lr 0.01 with weight decay 5e-4
on every param -- PyTorch's weight_decay adds 5e-4 W to the gradient, as
chainjit's --l2 5e-4 does by adding (5e-4/2)|W|^2 to the loss -- 200
full-graph epochs, the cross-entropy over the train nodes); and
`chainjit train` runs the command of docs/models.md on a copy of the model
whose init and dropout seeds are shifted by s. Prints the test accuracy (the
unlabelled nodes outside the validation set, after the last epoch) and the
time of both: the training loop alone, and the whole command for chainjit
(parsing, JIT compilation, data loading included).

  /usr/bin/python3 bench/gcn_digits_torch.py [--chainjit build/chainjit] [--seeds 5]

Exits 0 with a note when PyTorch is not installed (chainjit's column alone is
not printed then either: the point is the comparison).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError:
    print("PyTorch is not installed (Debian: apt-get install python3-torch): skipped")
    sys.exit(0)

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
parser.add_argument('--chainjit', default=os.path.join(root, 'build', 'chainjit'))
parser.add_argument('--seeds', type=int, default=5)
parser.add_argument('--epochs', type=int, default=200)
args = parser.parse_args()


class GCN(nn.Module):
    def __init__(self, adj):
        super().__init__()
        self.adj = adj
        self.W1 = nn.Parameter(torch.empty(64, 32))
        self.b1 = nn.Parameter(torch.zeros(32))
        self.W2 = nn.Parameter(torch.empty(32, 10))
        self.b2 = nn.Parameter(torch.zeros(10))
        nn.init.xavier_uniform_(self.W1)
        nn.init.xavier_uniform_(self.W2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h = torch.relu(torch.sparse.mm(self.adj, self.drop(x) @ self.W1) + self.b1)
        return torch.sparse.mm(self.adj, self.drop(h) @ self.W2) + self.b2


def torch_run(d, seed):
    torch.manual_seed(seed)
    load = lambda name: np.load(os.path.join(d, name))
    x = torch.from_numpy(load('x.npy'))
    y = torch.from_numpy(load('labels.npy')).long()
    row_ptr, cols, vals = load('row_ptr.npy'), load('col_idx.npy'), load('values.npy')
    rows = np.repeat(np.arange(len(row_ptr) - 1), np.diff(row_ptr))
    adj = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, cols]).astype(np.int64)),
                                  torch.from_numpy(vals), (len(y), len(y))).coalesce()
    train = torch.from_numpy(load('train.npy'))
    test = torch.from_numpy(load('test.npy'))
    model = GCN(adj)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    start = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x)[train], y[train])
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1)[test] == y[test]).float().mean().item()
    return 100 * acc, seconds


def chainjit_run(d, seed):
    with open(os.path.join(root, 'examples', 'gcn_digits.cj')) as f:
        text = f.read()
    # a different init and dropout draw per seed: every `seed = k` becomes k + 100 s
    text = re.sub(r'seed = (\d+)', lambda m: f'seed = {int(m.group(1)) + 100 * seed}', text)
    model = os.path.join(d, 'gcn_digits.cj')
    with open(model, 'w') as f:
        f.write(text)
    data = ','.join(f'{k}={os.path.join(d, k)}.npy'
                    for k in ('x', 'row_ptr', 'col_idx', 'values', 'labels'))
    masks = ','.join(f'{k}={os.path.join(d, f)}.npy'
                     for k, f in (('train', 'train'), ('validation', 'val'), ('test', 'test')))
    cmd = [args.chainjit, 'train', model, '--data', data, '--masks', masks,
           '--optimizer', 'adam', '--lr', '0.01', '--l2', '5e-4', '--epochs', str(args.epochs)]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f'chainjit failed ({" ".join(cmd)}):\n{out.stderr}')
    acc = float(re.search(r'^test loss \S+  accuracy ([0-9.]+)%', out.stdout, re.M).group(1))
    train_s = float(re.search(r'^training time ([0-9.e-]+) s', out.stdout, re.M).group(1))
    return acc, train_s, total


print(f'GCN on the digits graph: 64-32-10, Adam lr 0.01, weight decay 5e-4, dropout 0.5, '
      f'{args.epochs} epochs (torch {torch.__version__}, {torch.get_num_threads()} threads)')
print(f'{"seed":>4}  {"torch acc":>9}  {"chainjit acc":>12}  {"torch train s":>13}  '
      f'{"chainjit train s":>16}  {"chainjit total s":>16}')
rows = []
with tempfile.TemporaryDirectory() as tmp:
    for seed in range(args.seeds):
        d = os.path.join(tmp, f'seed{seed}')
        subprocess.run([sys.executable, os.path.join(root, 'examples', 'make_gcn_digits.py'),
                        d, '--seed', str(seed)], check=True, capture_output=True)
        t_acc, t_s = torch_run(d, seed)
        c_acc, c_s, c_total = chainjit_run(d, seed)
        rows.append((t_acc, c_acc, t_s, c_s, c_total))
        print(f'{seed:>4}  {t_acc:>8.2f}%  {c_acc:>11.2f}%  {t_s:>13.3f}  {c_s:>16.3f}  {c_total:>16.3f}')
cols = list(zip(*rows))
fmt = lambda v, p: f'{statistics.mean(v):.{p}f}±{statistics.stdev(v) if len(v) > 1 else 0:.{p}f}'
print(f'{"mean":>4}  {fmt(cols[0], 1) + "%":>9}  {fmt(cols[1], 1) + "%":>12}  {fmt(cols[2], 3):>13}  '
      f'{fmt(cols[3], 3):>16}  {fmt(cols[4], 3):>16}')
