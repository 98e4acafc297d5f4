#!/usr/bin/python3
"""Writes the bad files of the sequence, whole-graph and autoencoder tests
(tests/cli/CMakeLists.txt `cli.train.bad_*`, `cli.predict.*`;
tests/unit/TrainBadDataTest.cpp), each a copy of a good file of
make_train_data.py with one thing wrong. Needs NumPy (/usr/bin/python3);
the files are committed, run this (after make_train_data.py) only to change
them."""
import numpy as np

tokens = np.load('seq_tokens.npy')
mask = np.load('seq_mask.npy')
labels = np.load('seq_labels.npy')

# A token id outside the embedding's 5 rows, at sample 6, position 3.
bad = tokens.copy()
bad[5, 3] = 9
np.save('seq_tokens_bad.npy', bad)
# A padding mask one position short of the labels' 6.
np.save('seq_mask_short.npy', mask[:, :5].copy())
# A NaN in the padding mask, at sample 4, position 1.
nan_mask = mask.copy()
nan_mask[3, 1] = np.nan
np.save('seq_mask_nan.npy', nan_mask)
# Labels for one sample fewer than the tokens.
np.save('seq_labels_rows.npy', labels[:-1].copy())

# A NaN node feature, at node 12, feature 1.
x = np.load('g_x.npy')
x[12, 1] = np.nan
np.save('g_x_nan.npy', x)

# The autoencoder's CSV with a NaN on line 5, and with a short line 3.
lines = open('ae.csv').read().splitlines()
nan_lines = list(lines)
fields = nan_lines[4].split(',')
fields[2] = 'nan'
nan_lines[4] = ','.join(fields)
open('ae_nan.csv', 'w').write('\n'.join(nan_lines[:20]) + '\n')
short_lines = list(lines)
short_lines[2] = ','.join(short_lines[2].split(',')[:7])
open('ae_short.csv', 'w').write('\n'.join(short_lines[:20]) + '\n')
