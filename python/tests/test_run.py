# compile(): NumPy arrays in and out, both backends, zero-copy inputs, params
# by name, any batch size, errors as chainjit.Error.
import threading

import numpy as np
import pytest

import chainjit as cj


def numpy_mlp(p, x):
    h = np.tanh(x @ p["W1"] + p["b1"])
    logits = h @ p["W2"]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return h, logits, logp


def test_jit_matches_numpy(mlp64, mlp64_inputs):
    exe = cj.compile(mlp64)
    out = exe(**mlp64_inputs)
    assert list(out) == ["loss", "predicted"] == exe.output_names
    _, logits, logp = numpy_mlp(exe.params, mlp64_inputs["x"])
    loss = -logp[np.arange(5), mlp64_inputs["labels"]].mean()
    assert out["loss"].dtype == np.float64 and out["loss"].shape == ()
    np.testing.assert_allclose(out["loss"], loss, rtol=1e-12)
    np.testing.assert_array_equal(out["predicted"], logits.argmax(axis=1))
    assert out["predicted"].dtype == np.int32


def test_interpreter_matches_jit(mlp64, mlp64_inputs):
    jit = cj.compile(mlp64, backend="jit")
    interp = cj.compile(mlp64, backend="interp")
    assert (jit.backend, interp.backend) == ("jit", "interp")
    a, b = jit.run(mlp64_inputs), interp.run(mlp64_inputs)
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-12)
    np.testing.assert_array_equal(a["predicted"], b["predicted"])


def test_jit_reads_inputs_in_place(mlp64, mlp64_inputs):
    exe = cj.compile(mlp64)
    x = np.ascontiguousarray(mlp64_inputs["x"])
    exe(x=x, labels=mlp64_inputs["labels"])
    assert exe.last_input_addresses["x"] == x.ctypes.data
    assert exe.last_input_addresses["labels"] == mlp64_inputs["labels"].ctypes.data
    # A strided view is copied (and still gives the right answer).
    wide = np.zeros((5, 8))
    wide[:, ::2] = x
    view = wide[:, ::2]
    out = exe(x=view, labels=mlp64_inputs["labels"])
    assert exe.last_input_addresses["x"] != view.ctypes.data
    np.testing.assert_allclose(out["loss"], exe(**mlp64_inputs)["loss"], rtol=1e-15)
    # Python lists are converted.
    out = exe(x=x.tolist(), labels=[0, 2, 1, 1, 0])
    np.testing.assert_allclose(out["loss"], exe(**mlp64_inputs)["loss"], rtol=1e-15)


def test_params_are_arrays_the_code_reads(mlp64, mlp64_inputs):
    exe = cj.compile(mlp64)
    before = exe(**mlp64_inputs)["loss"]
    exe.params["W2"][...] = 0.0          # writes into the buffer the code reads
    assert exe(**mlp64_inputs)["loss"] == pytest.approx(np.log(3.0))
    exe.set_params({"W2": np.ones((6, 3))})
    assert np.all(exe.params["W2"] == 1.0)
    assert exe(**mlp64_inputs)["loss"] == pytest.approx(np.log(3.0))
    fresh = cj.compile(mlp64, params={"W2": np.zeros((6, 3))})
    assert fresh(**mlp64_inputs)["loss"] == pytest.approx(np.log(3.0))
    assert before != pytest.approx(np.log(3.0))


def test_params_from_npz(tmp_path, mlp64, mlp64_inputs):
    exe = cj.compile(mlp64)
    exe.params["b1"][...] = 0.25
    path = tmp_path / "w.npz"
    exe.save_params(str(path))
    with np.load(path) as z:
        assert sorted(z.files) == ["W1.npy", "W2.npy", "b1.npy"] or sorted(z.files) == ["W1", "W2", "b1"]
    weights = cj.load_weights(path)
    assert np.all(weights["b1"] == 0.25)
    for backend in ("jit", "interp"):
        other = cj.compile(mlp64, backend=backend, params=path)
        np.testing.assert_array_equal(other.params["b1"], 0.25)
        np.testing.assert_allclose(other(**mlp64_inputs)["loss"], exe(**mlp64_inputs)["loss"])
    missing = tmp_path / "missing.npz"
    cj.save_weights(missing, {"W1": weights["W1"]})
    with pytest.raises(cj.Error, match="W2"):
        cj.compile(mlp64, params=missing)


def test_any_batch_size(mlp64):
    for backend in ("jit", "interp"):
        exe = cj.compile(mlp64, backend=backend)
        x = np.random.default_rng(1).standard_normal((9, 4))
        labels = np.zeros(9, np.int32)
        out = exe(x=x, labels=labels)
        assert out["predicted"].shape == (9,)
        assert exe.batch_sizes == [5, 9]
        _, logits, _ = numpy_mlp(exe.params, x)
        np.testing.assert_array_equal(out["predicted"], logits.argmax(axis=1))
    assert cj.batch_size(mlp64) == 5
    assert cj.with_batch_size(mlp64, 7)["x"].shape == (7, 4)


def test_updates_write_the_params(source_dir):
    g = cj.Graph("counter")
    x = g.input("x", (3,), "f64")
    s = g.param("s", (3,), "f64")
    g.update(s, s + x)
    g.output((s * 1.0).named("before"))
    for backend in ("jit", "interp"):
        exe = cj.compile(g, backend=backend)
        exe(x=np.array([1.0, 2.0, 3.0]))
        out = exe(x=np.array([1.0, 2.0, 3.0]))
        np.testing.assert_array_equal(out["before"], [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(exe.params["s"], [2.0, 4.0, 6.0])


def test_bad_inputs_raise_naming_the_input(mlp64, mlp64_inputs):
    exe = cj.compile(mlp64)
    labels = mlp64_inputs["labels"]
    with pytest.raises(cj.Error, match=r"input %x: expected f64\[5, 4\], got float32 array of shape \(5, 4\)"):
        exe(x=mlp64_inputs["x"].astype(np.float32), labels=labels)
    with pytest.raises(cj.Error, match=r"input %labels: expected i32\[5\], got float64 array of shape \(5,\)"):
        exe(x=mlp64_inputs["x"], labels=labels.astype(np.float64))
    with pytest.raises(cj.Error, match=r"input %x: expected f64\[5, 4\], got float64 array of shape \(5, 3\)"):
        exe(x=np.zeros((5, 3)), labels=labels)
    with pytest.raises(cj.Error, match=r"input %labels \(i32\[5\]\) is not given"):
        exe(x=mlp64_inputs["x"])
    with pytest.raises(cj.Error, match=r"no input named %xx \(inputs: %x, %labels\)"):
        exe(xx=1, **mlp64_inputs)
    with pytest.raises(cj.Error, match="is a param, not an input"):
        exe(W1=np.zeros((4, 6)), **mlp64_inputs)
    with pytest.raises(cj.Error, match=r"param %W1: expected f64\[4, 6\]"):
        exe.set_params({"W1": np.zeros((6, 4))})
    with pytest.raises(cj.Error, match="no param named %W3"):
        exe.set_params({"W3": np.zeros(1)})
    with pytest.raises(cj.Error, match="unknown backend 'gpu'"):
        cj.compile(mlp64, backend="gpu")


def test_runtime_errors_name_the_node():
    g = cj.Graph("solver")
    A = g.input("A", (2, 2), "f64")
    b = g.input("b", (2,), "f64")
    g.output(cj.solve(A, b).named("x"))
    for backend in ("jit", "interp"):
        exe = cj.compile(g, backend=backend)
        np.testing.assert_allclose(exe(A=np.eye(2) * 2, b=np.ones(2))["x"], [0.5, 0.5])
        with pytest.raises(cj.Error, match="singular"):
            exe(A=np.zeros((2, 2)), b=np.ones(2))


def test_calls_from_threads():
    # The GIL is released while compiled code runs: calls from several
    # threads run at once and each gets its own answer.
    g = cj.Graph("big")
    x = g.input("x", (256, 256), "f64")
    g.output(cj.sum(x @ x).named("s"))
    exe = cj.compile(g)
    results = {}

    def work(i):
        a = np.full((256, 256), float(i))
        results[i] = float(exe(x=a)["s"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: float(i * i * 256 * 256 * 256) for i in range(4)}


def test_gil_is_released_while_compiled_code_runs():
    g = cj.Graph("slow")
    x = g.input("x", (500, 500), "f64")
    g.output(cj.sum(cj.tanh(x @ x) @ x).named("s"))
    exe = cj.compile(g)
    a = np.random.default_rng(0).standard_normal((500, 500))
    exe(x=a)  # warm up
    state = {"in_call": False}

    def work():
        state["in_call"] = True
        exe(x=a)
        state["in_call"] = False

    t = threading.Thread(target=work)
    ticks = 0
    t.start()
    while t.is_alive():
        if state["in_call"]:
            ticks += 1  # only possible while the other thread has let go of the GIL
    t.join()
    assert ticks > 100


def test_modes_expand_batch_norm():
    g = cj.Graph("bn")
    x = g.input("x", (8, 3), "f64")
    gamma = g.param("gamma", (3,), "f64", init="ones")
    beta = g.param("beta", (3,), "f64")
    mean = g.param("mean", (3,), "f64", trainable=False)
    var = g.param("var", (3,), "f64", init="ones", trainable=False)
    g.output(cj.batch_norm(x, gamma, beta, mean, var).named("y"))
    X = np.random.default_rng(0).standard_normal((8, 3)) * 3 + 1
    for backend in ("jit", "interp"):
        train = cj.compile(g, backend=backend, mode="train")
        y = train(x=X)["y"]
        np.testing.assert_allclose(y, (X - X.mean(0)) / np.sqrt(X.var(0) + 1e-5), rtol=1e-10)
        np.testing.assert_allclose(train.params["mean"], 0.1 * X.mean(0), rtol=1e-12)  # updated
        evaluate = cj.compile(g, backend=backend)  # mode="eval": the running statistics
        np.testing.assert_allclose(evaluate(x=X)["y"], X / np.sqrt(1 + 1e-5), rtol=1e-12)
    with pytest.raises(cj.Error, match="unknown mode 'test'"):
        cj.compile(g, mode="test")


def test_profile_times_every_kernel_per_batch_size(mlp64, mlp64_inputs):
    # compile(..., profile=True) (`chainjit run --profile`): each kernel of
    # the plan timed on every call, per batch size run; the outputs are
    # those of an unprofiled compile.
    exe = cj.compile(mlp64, profile=True, cache=False)
    assert [(p["batch"], p["calls"]) for p in exe.profiles()] == [(5, 0)]  # compiled, not run
    for _ in range(3):
        out = exe(**mlp64_inputs)
    bigger = {"x": np.ones((7, 4)), "labels": np.zeros(7, np.int32)}
    exe(**bigger)
    profiles = {p["batch"]: p for p in exe.profiles()}
    assert sorted(profiles) == [5, 7]
    assert profiles[5]["calls"] == 3 and profiles[7]["calls"] == 1
    for p in profiles.values():
        assert p["kernels"] and all(k["calls"] == p["calls"] for k in p["kernels"])
        assert sum(k["seconds"] for k in p["kernels"]) <= p["seconds"]
        assert p["table"].startswith(f"{p['calls']} call")
    plain = cj.compile(mlp64, cache=False)
    np.testing.assert_array_equal(plain(**mlp64_inputs)["loss"], out["loss"])
    assert plain.profiles() == []
