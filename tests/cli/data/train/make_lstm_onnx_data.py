#!/usr/bin/python3
"""Writes the data of `cli.import.lstm_trains` (tests/cli/CMakeLists.txt):
sequences for the LSTM of tests/fixtures/onnx/lstm.onnx (5 steps of 3
features, 3 classes), fed batch-first [N, 5, 3] as the trainer feeds an
imported recurrent model. The class of a sequence is the feature with the
largest mean over its steps. Needs NumPy (/usr/bin/python3); the files are
committed, run this only to change them. Deterministic (seeded)."""
import numpy as np

rng = np.random.default_rng(11)
for name, n in (('train', 90), ('test', 30)):
    x = rng.normal(size=(n, 5, 3)).astype(np.float32)
    labels = x.mean(axis=1).argmax(axis=1).astype(np.int32)
    np.save(f'lstm_onnx_{name}_x.npy', x)
    np.save(f'lstm_onnx_{name}_labels.npy', labels)
