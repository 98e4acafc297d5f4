#!/usr/bin/python3
"""Writes the small data sets and models of the general trainer's CLI tests
(tests/cli/CMakeLists.txt, `cli.train.npy_*`, `cli.train.csv_*`, ...):
a linear regression, an autoencoder, sequence tagging with padding, a tiny
two-community graph for whole-graph (transductive) training, and bad files.
Needs NumPy (/usr/bin/python3); the files are committed, run this only to
change them. Deterministic (seeded)."""
import numpy as np

rng = np.random.default_rng(7)

# ---- regression: y = x . w + 0.3 (+ small noise), and a 2-output version
n = 200
x = rng.normal(size=(n, 3)).astype(np.float32)
w = np.array([1.0, -2.0, 0.5], dtype=np.float32)
y = (x @ w + 0.3 + 0.01 * rng.normal(size=n)).astype(np.float32)
np.save('reg_x.npy', x)
np.save('reg_y.npy', y)
np.savetxt('reg.csv', np.column_stack([x, y]), delimiter=',', fmt='%.6f',
           header='x1,x2,x3,y', comments='')
w2 = np.array([[1.0, 0.5], [-2.0, 0.0], [0.5, 1.5]], dtype=np.float32)
y2 = (x @ w2 + np.array([0.3, -0.1])).astype(np.float32)
np.save('reg_y2.npy', y2)
# bad files: too few rows, a NaN, a wider sample, a wrong dtype
np.save('reg_y2_short.npy', y2[:199])
xn = x.copy()
xn[17, 2] = np.nan
np.save('reg_x_nan.npy', xn)
np.save('reg_x_wide.npy', rng.normal(size=(n, 4)).astype(np.float32))
np.save('reg_y2_bool.npy', y2 > 0)

# ---- autoencoder: 8 features on a 2-dimensional subspace, no labels
z = rng.normal(size=(n, 2))
basis = rng.normal(size=(2, 8))
ae = (z @ basis * 0.5).astype(np.float32)
np.savetxt('ae.csv', ae, delimiter=',', fmt='%.6f')

# ---- sequence tagging: label = (3 token + 1) mod 5 on real tokens; the
# padding (mask 0) carries token 0 with the misleading label 4, which the
# masked loss must ignore
m, t = 96, 6
tokens = rng.integers(1, 5, size=(m, t)).astype(np.int32)
labels = ((3 * tokens + 1) % 5).astype(np.int32)
lengths = rng.integers(2, t + 1, size=m)
mask = (np.arange(t)[None, :] < lengths[:, None]).astype(np.float32)
tokens[mask == 0] = 0
labels[mask == 0] = 4
np.save('seq_tokens.npy', tokens)
np.save('seq_labels.npy', labels)
np.save('seq_mask.npy', mask)

# ---- a graph of two communities: 20 nodes each, dense inside, a few edges
# across; features are the class signal buried in noise, so a node alone
# is often misread but its neighbourhood is not
nodes, per = 40, 20
cls = np.repeat([0, 1], per).astype(np.int32)
adj = np.zeros((nodes, nodes), dtype=bool)
for i in range(nodes):
    for j in range(i + 1, nodes):
        p = 0.3 if cls[i] == cls[j] else 0.02
        if rng.random() < p:
            adj[i, j] = adj[j, i] = True
adj |= np.eye(nodes, dtype=bool)  # self-loops
deg = adj.sum(1)
row_ptr, col_idx, norm = [0], [], []
for i in range(nodes):
    for j in np.nonzero(adj[i])[0]:
        col_idx.append(j)
        norm.append(1.0 / np.sqrt(deg[i] * deg[j]))
    row_ptr.append(len(col_idx))
feats = (rng.normal(size=(nodes, 4)) + 0.6 * np.outer(2 * cls - 1, [1, -1, 1, 0])).astype(np.float32)
np.save('g_x.npy', feats)
np.save('g_row_ptr.npy', np.array(row_ptr, dtype=np.int32))
np.save('g_col_idx.npy', np.array(col_idx, dtype=np.int32))
np.save('g_norm.npy', np.array(norm, dtype=np.float32))
np.save('g_labels.npy', cls)
order = rng.permutation(nodes)
train = np.concatenate([order[cls[order] == 0][:3], order[cls[order] == 1][:3]])
rest = np.array([i for i in order if i not in set(train)])
val, test = rest[:8], rest[8:]
train_mask = np.zeros(nodes, dtype=bool)
train_mask[train] = True
np.save('g_train.npy', train_mask)                        # bool mask
np.save('g_val.npy', np.sort(val).astype(np.int32))       # index list
test_mask = np.zeros(nodes, dtype=np.uint8)
test_mask[test] = 1
np.save('g_test.npy', test_mask)                          # u8 mask
np.save('g_mask_short.npy', train_mask[:39])              # wrong node count
np.save('g_val_out_of_range.npy', np.array([3, 40], dtype=np.int32))
np.save('g_labels_f32.npy', cls.astype(np.float32))       # wrong dtype

nnz = len(col_idx)
with open('gcn_tiny.cj', 'w') as f:
    f.write(f'''# A two-layer graph convolution network (Kipf and Welling) for whole-graph
# training: one batch of all {nodes} nodes, the normalized adjacency with
# self-loops as CSR inputs, and the loss over the nodes of %mask (the
# trainer feeds the train mask while training, each split's when it
# evaluates). Written by make_train_data.py.
graph gcn_tiny {{
  input %x : f32[{nodes}, 4]
  input %row_ptr : i32[{nodes + 1}]
  input %col_idx : i32[{nnz}]
  input %norm : f32[{nnz}]
  input %labels : i32[{nodes}]
  input %mask : f32[{nodes}]

  param %W1 : f32[4, 16] {{init = "glorot", seed = 1}}
  param %W2 : f32[16, 2] {{init = "glorot", seed = 2}}

  %xw = matmul(%x, %W1)
  %ax = spmm(%row_ptr, %col_idx, %norm, %xw) {{cols = {nodes}}}
  %h = relu(%ax)
  %hw = matmul(%h, %W2)
  %logits = spmm(%row_ptr, %col_idx, %norm, %hw) {{cols = {nodes}}}
  %lp = log_softmax(%logits)
  %oh = one_hot(%labels) {{depth = 2}}
  %picked = mul(%oh, %lp)
  %node_ll = sum(%picked) {{axes = [1]}}
  %masked = mul(%node_ll, %mask)
  %total = sum(%masked)
  %count = sum(%mask)
  %mean_ll = div(%total, %count)
  %loss = neg(%mean_ll)

  output %loss
  output %logits
}}
''')
