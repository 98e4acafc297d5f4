# Shared fixtures: the source root (for examples/) and a small f64 model.
import os
import pathlib

import numpy as np
import pytest

import chainjit as cj

SOURCE_DIR = pathlib.Path(os.environ.get("CHAINJIT_SOURCE_DIR",
                                         pathlib.Path(__file__).resolve().parents[2]))


@pytest.fixture
def source_dir():
    return SOURCE_DIR


@pytest.fixture
def mlp64():
    """A small f64 MLP with a scalar loss: x [5, 4] -> 3 classes."""
    g = cj.Graph("mlp64")
    x = g.input("x", (5, 4), "f64")
    y = g.input("labels", (5,), "i32")
    W1 = g.param("W1", (4, 6), "f64", init="glorot", seed=1)
    b1 = g.param("b1", (6,), "f64", init="normal", scale=0.1, seed=2)
    W2 = g.param("W2", (6, 3), "f64", init="glorot", seed=3)
    h = cj.tanh(x @ W1 + b1).named("h")
    logits = (h @ W2).named("logits")
    g.output(cj.cross_entropy(logits, y).named("loss"))
    g.output(cj.argmax(logits, 1).named("predicted"))
    return g


@pytest.fixture
def mlp64_inputs():
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((5, 4)), "labels": np.array([0, 2, 1, 1, 0], np.int32)}
