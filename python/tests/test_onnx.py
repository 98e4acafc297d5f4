# chainjit.from_onnx: models exported by PyTorch (tests/fixtures/onnx, made
# by tests/fixtures/make_onnx_models.py) give PyTorch's outputs and, with a
# loss attached, its weight gradients; bad models raise chainjit.Error with
# the importer's message; an imported model trains from its initializers.
import numpy as np
import pytest

import chainjit as cj
from conftest import SOURCE_DIR

FIXTURES = SOURCE_DIR / "tests" / "fixtures" / "onnx"

pytestmark = pytest.mark.skipif(not cj.onnx_available(),
                                reason="chainjit was built without ONNX (CHAINJIT_ONNX)")


def fixture(name):
    return dict(np.load(FIXTURES / (name + ".npz")))


RECURRENT = ("lstm", "gru", "bilstm", "bigru", "reverse_gru")


@pytest.mark.parametrize("name", ["mlp", "fashion_cnn", "bn_dropout", "ops", "ops2",
                                  "helper_opset11", *RECURRENT])
@pytest.mark.parametrize("backend", ["interp", "jit"])
def test_outputs_match_pytorch(name, backend):
    graph, params = cj.from_onnx(FIXTURES / (name + ".onnx"))
    want = fixture(name)
    inputs = {v.name: want[v.name] for v in graph.inputs}
    out = cj.compile(graph, backend=backend, params=params)(**inputs)
    expected = {k[4:]: v for k, v in want.items() if k.startswith("out.") and k != "out.loss"}
    assert set(expected) <= set(out)
    for k, v in expected.items():
        np.testing.assert_allclose(out[k], v, rtol=1e-5, atol=1e-5, err_msg=k)


def test_consts_keep_the_values_in_the_graph():
    graph, params = cj.from_onnx(FIXTURES / "mlp.onnx", consts=True)
    assert params == {} and graph.params == []
    want = fixture("mlp")
    out = cj.compile(graph)(x=want["x"])
    np.testing.assert_allclose(out["logits"], want["out.logits"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["mlp", "fashion_cnn", "lstm", "gru", "bilstm", "bigru"])
@pytest.mark.parametrize("backend", ["interp", "jit"])
def test_gradients_under_cross_entropy_match_pytorch(name, backend):
    graph, params = cj.from_onnx(FIXTURES / (name + ".onnx"), loss="cross_entropy",
                                 labels="y")
    assert [v.name for v in graph.outputs][:2] == ["loss", "logits"]
    want = fixture(name)
    gg = cj.grad(graph, "loss", list(params))
    feed = {v.name: want[v.name] for v in graph.inputs if v.name != "y"}
    out = cj.compile(gg, backend=backend, params=params)(y=want["labels"], **feed)
    np.testing.assert_allclose(out["loss"], want["out.loss"], rtol=1e-5)
    for p in params:
        np.testing.assert_allclose(out["grad." + p], want["grad." + p], rtol=1e-5, atol=1e-5,
                                   err_msg=p)


@pytest.mark.parametrize("file, message", [
    ("bad_unsupported_op.onnx", r"node 1 'the_cosine' \(Cos\): the operator Cos is not supported"),
    ("bad_dynamic_shape.onnx", r"graph input 'x' has the dynamic dimension 'batch' at axis 0"),
    ("bad_truncated.onnx", r"not a valid ONNX model: the protobuf data is malformed or truncated"),
    ("bad_raw_data.onnx", r"initializer 'W': raw_data holds 60 bytes but dims \[4, 4\] of FLOAT "
                          r"need 64"),
    ("bad_conv_group.onnx", r"node 0 'grouped' \(Conv\): the attribute group = 2 is not supported"),
])
def test_bad_models_raise_with_the_problem(file, message):
    with pytest.raises(cj.Error, match=message):
        cj.from_onnx(FIXTURES / file)


def test_dim_values_fix_a_symbolic_dimension():
    graph, _ = cj.from_onnx(FIXTURES / "bad_dynamic_shape.onnx", dim_values={"batch": 6})
    assert graph["y"].shape == (6, 3)
    with pytest.raises(cj.Error, match="the loss 'mse' is not supported"):
        cj.from_onnx(FIXTURES / "mlp.onnx", loss="mse")


def test_an_imported_model_trains_from_its_initializers():
    graph, params = cj.from_onnx(FIXTURES / "mlp.onnx", loss="cross_entropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int32) + 2 * (x[:, 1] > 0).astype(np.int32)
    trainer, history = cj.train(graph, (x, labels), optimizer="adam", lr=0.01, batch=16,
                                epochs=30, initial_params=params)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    # With a tiny step size the params stay where they started: the ONNX
    # weights, not the initializers' zeros.
    still, _ = cj.train(graph, (x, labels), optimizer="sgd", lr=1e-30, batch=16, epochs=1,
                        initial_params=params)
    for k, v in params.items():
        assert np.abs(v).max() > 0.01
        np.testing.assert_allclose(still.params()[k], v, rtol=1e-6, err_msg=k)
