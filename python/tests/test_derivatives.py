# Derivatives as graphs, checked against central finite differences in f64,
# and the cost report as Python data.
import numpy as np
import pytest

import chainjit as cj


def loss_at(exe, inputs, name, value):
    exe.set_params({name: value})
    return float(exe(**inputs)["loss"])


def test_grad_matches_finite_differences(mlp64, mlp64_inputs):
    gg = cj.grad(mlp64, "loss", ["W1", "b1", "W2"])
    assert [v.name for v in gg.outputs] == ["loss", "predicted", "grad.W1", "grad.b1", "grad.W2"]
    grads = cj.compile(gg)(**mlp64_inputs)
    f = cj.compile(mlp64)
    base = {k: v.copy() for k, v in f.params.items()}
    eps = 1e-6
    for name in ("W1", "b1", "W2"):
        p = base[name]
        fd = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            plus, minus = p.copy(), p.copy()
            plus[i] += eps
            minus[i] -= eps
            fd[i] = (loss_at(f, mlp64_inputs, name, plus) - loss_at(f, mlp64_inputs, name, minus)) / (2 * eps)
        f.set_params({name: p})
        np.testing.assert_allclose(grads["grad." + name], fd, rtol=1e-6, atol=1e-8)


def test_grad_accepts_values_and_names(mlp64):
    a = cj.grad(mlp64, mlp64["loss"], mlp64["W1"])
    b = cj.grad(mlp64, "%loss", "W1")
    assert a.text() == b.text()
    with pytest.raises(cj.Error, match="W9"):
        cj.grad(mlp64, "loss", ["W9"])


def small_graph():
    g = cj.Graph("f")
    w = g.input("w", (3,), "f64")
    y = cj.tanh(w * w + 1.0).named("y")          # R^3 -> R^3
    g.output(y)
    g.output(cj.sum(y * w).named("f"))            # R^3 -> R
    return g


def f_numpy(w):
    return np.sum(np.tanh(w * w + 1.0) * w)


def test_jacobian_modes_agree_with_finite_differences():
    g = small_graph()
    w = np.array([0.3, -0.7, 1.1])
    eps = 1e-6
    fd = np.zeros((3, 3))
    for j in range(3):
        e = np.zeros(3)
        e[j] = eps
        fd[:, j] = (np.tanh((w + e) ** 2 + 1) - np.tanh((w - e) ** 2 + 1)) / (2 * eps)
    for mode in ("forward", "reverse", "optimal"):
        jg = cj.jacobian(g, "y", "w", mode=mode)
        J = cj.compile(jg)(w=w)["jacobian.y.w"]
        np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-9)
    with pytest.raises(cj.Error, match="unknown jacobian mode"):
        cj.jacobian(g, "y", "w", mode="sideways")


def test_jvp_and_vjp_are_jacobian_products():
    g = small_graph()
    w = np.array([0.3, -0.7, 1.1])
    J = cj.compile(cj.jacobian(g, "y", "w"))(w=w)["jacobian.y.w"]
    v = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 0.25]])
    t = cj.compile(cj.jvp(g, "y", ["w"], directions=2))(w=w, **{"tangent.w": v})
    np.testing.assert_allclose(t["tangent.y"], v @ J.T, rtol=1e-12)
    a = cj.compile(cj.vjp(g, "y", ["w"], directions=2))(w=w, **{"adjoint.y": v})
    np.testing.assert_allclose(a["adjoint.w"], v @ J, rtol=1e-12)


def test_hessian_and_hvp_match_finite_differences():
    g = small_graph()
    w = np.array([0.3, -0.7, 1.1])
    grad = cj.compile(cj.grad(g, "f", ["w"]))
    eps = 1e-5
    fd = np.zeros((3, 3))
    for j in range(3):
        e = np.zeros(3)
        e[j] = eps
        fd[:, j] = (grad(w=w + e)["grad.w"] - grad(w=w - e)["grad.w"]) / (2 * eps)
    H = cj.compile(cj.hessian(g, "f", "w"))(w=w)["hessian.w"]
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-8)
    d = np.array([1.0, -2.0, 0.5])
    hv = cj.compile(cj.hvp(g, "f", ["w"]))(w=w, **{"direction.w": d})
    np.testing.assert_allclose(hv["hvp.w"], H @ d, rtol=1e-10)
    # and the gradient itself against f's finite differences
    fdg = [(f_numpy(w + e) - f_numpy(w - e)) / (2 * eps) for e in np.eye(3) * eps]
    np.testing.assert_allclose(grad(w=w)["grad.w"], fdg, rtol=1e-7)


def test_cost_report(source_dir):
    g = cj.load(str(source_dir / "examples" / "wide_narrow_wide.cj"))
    r = cj.cost(g, "y", "x")
    assert r["title"] == "d y / d x in wide_narrow_wide"
    assert [f["label"] for f in r["factors"]] == ["%z1", "%v1", "%z2", "%y"]
    assert r["optimum"]["cost"] <= min(r["pure_tangent"]["cost"], r["pure_adjoint"]["cost"])
    text = cj.cost(g, "y", "x", format="text")
    assert text.startswith("d y / d x in wide_narrow_wide")
    assert cj.cost(g, "y", "x", format="dot").startswith("digraph")
    limited = cj.cost(g, "y", "x", memory_limit=100)
    assert limited["tape_limit"] == 100
    with pytest.raises(cj.Error, match="unknown cost report format"):
        cj.cost(g, "y", "x", format="yaml")
    h = cj.cost(small_graph(), "f", "w", hessian=True)
    assert h["title"].startswith("d2 f / d w2")


def deep_tanh_graph(layers=6):
    lines = ["graph deep {", "  input %x : f64[8, 32]"]
    h = "%x"
    for l in range(1, layers + 1):
        lines.append(f'  param %W{l} : f64[32, 32] {{init = "normal", seed = {l}}}')
        lines.append(f"  %z{l} = matmul({h}, %W{l})")
        lines.append(f"  %h{l} = tanh(%z{l})")
        h = f"%h{l}"
    lines += [f"  %sq = mul({h}, {h})", "  %loss = mean(%sq)", "  output %loss", "}"]
    return cj.parse("\n".join(lines))


def test_cost_plans_with_recomputation_under_a_memory_limit():
    # As `chainjit cost --memory-limit`: the limit bounds checkpoints and
    # tapes, and adjoint sweeps recompute what they do not keep;
    # recompute=False is `--no-recompute` (only whole tapes within the limit).
    g = deep_tanh_graph()
    tape = cj.cost(g, "loss", "x")["pure_adjoint"]["tape_bytes"]
    assert tape > 0
    for limit in (tape / 2, tape / 4, tape / 8):
        planned = cj.cost(g, "loss", "x", memory_limit=limit)
        held = cj.cost(g, "loss", "x", memory_limit=limit, recompute=False)
        assert planned["tape_limit"] == held["tape_limit"] == limit
        assert planned["optimum"]["tape_bytes"] <= limit
        assert planned["optimum"]["cost"] <= held["optimum"]["cost"]
        assert planned["optimum"]["recompute_cost"] >= 0
    text = cj.cost(g, "loss", "x", memory_limit=tape / 4, format="text")
    assert "adjoint sweeps recompute what they do not keep" in text
    assert "recomputation: " in text
    old = cj.cost(g, "loss", "x", memory_limit=tape / 4, format="text", recompute=False)
    assert "tape limit: " in old and "recomputation: " not in old
