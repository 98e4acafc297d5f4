# Functions and scans from Python: a body built once as a Graph, called
# twice or looped over a time axis, on both backends, with its gradient.
import numpy as np
import pytest

import chainjit as cj


def dense_function():
    body = cj.Graph("dense")
    x = body.input("x", (4, 3), "f64")
    W = body.input("W", (3, 3), "f64")
    body.output(cj.tanh(x @ W).named("y"))
    return cj.Function("dense", body)


def test_a_function_is_called_twice():
    f = dense_function()
    assert f.name == "dense" and f.arity == 2 and f.num_results == 1
    assert str(f).startswith("func dense(%x : f64[4, 3], %W : f64[3, 3])")
    g = cj.Graph()
    x = g.input("x", (4, 3), "f64")
    W1 = g.param("W1", (3, 3), "f64")
    W2 = g.param("W2", (3, 3), "f64")
    (h,) = cj.call(f, [x, W1], prefix="h1")
    (y,) = cj.call(f, [h, W2])
    g.output(y.named("out"))
    exe = cj.compile(g, backend="interp")
    xs = np.linspace(-1, 1, 12).reshape(4, 3)
    w1, w2 = np.eye(3) * 0.5, np.full((3, 3), 0.25)
    exe.set_params({"W1": w1, "W2": w2})
    np.testing.assert_allclose(exe(x=xs)["out"], np.tanh(np.tanh(xs @ w1) @ w2), rtol=1e-12)
    # Inlined: the text form has no call left, and it round-trips.
    assert "dense(" not in str(g) and str(cj.parse(str(g))) == str(g)


def test_call_checks_its_arguments():
    f = dense_function()
    g = cj.Graph()
    x = g.input("x", (4, 2), "f64")
    W = g.input("W", (3, 3), "f64")
    with pytest.raises(cj.Error, match="dense"):
        cj.call(f, [x, W])
    with pytest.raises(cj.Error, match="dense"):
        cj.call(f, [W])
    with pytest.raises(cj.Error, match="different graphs"):
        cj.call(f, [cj.Graph().input("x", (4, 3), "f64"), W])


def elman(T=5, n=3, d=2):
    cell = cj.Graph("elman")
    h = cell.input("h", (n,), "f64")
    x = cell.input("x", (d,), "f64")
    U = cell.input("U", (n, n), "f64")
    V = cell.input("V", (d, n), "f64")
    h2 = cj.tanh(h @ U + x @ V).named("h2")
    cell.output(h2)
    cell.output(h2)  # the new carry, and the per-step output
    body = cj.Function("elman", cell)

    g = cj.Graph("rnn")
    h0 = g.input("h0", (n,), "f64")
    xs = g.input("xs", (T, d), "f64")
    U = g.param("U", (n, n), "f64")
    V = g.param("V", (d, n), "f64")
    hT, hs = cj.scan(body, [h0], [xs], [U, V])
    g.output(hT.named("hT"))
    g.output(hs.named("hs"))
    g.output(cj.sum(hs * hs).named("loss"))
    return g


def reference(h0, xs, U, V):
    h, out = h0, []
    for x in xs:
        h = np.tanh(h @ U + x @ V)
        out.append(h)
    return h, np.stack(out)


def test_scan_runs_on_both_backends_and_round_trips():
    g = elman()
    assert "scan" in str(g) and "func elman" in str(g)
    assert str(cj.parse(str(g))) == str(g)
    rng = np.random.default_rng(0)
    h0, xs = rng.normal(size=3), rng.normal(size=(5, 2))
    U, V = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(2, 3)) * 0.5
    want_hT, want_hs = reference(h0, xs, U, V)
    for backend in ("interp", "jit"):
        exe = cj.compile(g, backend=backend)
        exe.set_params({"U": U, "V": V})
        out = exe(h0=h0, xs=xs)
        np.testing.assert_allclose(out["hT"], want_hT, rtol=1e-12)
        np.testing.assert_allclose(out["hs"], want_hs, rtol=1e-12)


def test_gradient_through_a_scan_matches_finite_differences():
    g = elman()
    gg = cj.grad(g, "loss", ["U", "h0"])
    rng = np.random.default_rng(1)
    h0, xs = rng.normal(size=3), rng.normal(size=(5, 2))
    U, V = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(2, 3)) * 0.5
    exe = cj.compile(gg, backend="jit")
    exe.set_params({"U": U, "V": V})
    grads = exe(h0=h0, xs=xs)

    def loss(U_, h0_):
        return float(np.sum(reference(h0_, xs, U_, V)[1] ** 2))

    eps = 1e-6
    fd = np.zeros_like(U)
    for i in np.ndindex(U.shape):
        d = np.zeros_like(U)
        d[i] = eps
        fd[i] = (loss(U + d, h0) - loss(U - d, h0)) / (2 * eps)
    np.testing.assert_allclose(grads["grad.U"], fd, rtol=1e-6, atol=1e-9)
    fd0 = np.array([(loss(U, h0 + e) - loss(U, h0 - e)) / (2 * eps) for e in np.eye(3) * eps])
    np.testing.assert_allclose(grads["grad.h0"], fd0, rtol=1e-6, atol=1e-9)


def test_parse_functions_reads_func_definitions():
    (f,) = cj.parse_functions(str(dense_function()))
    assert f.name == "dense" and str(f) == str(dense_function())
