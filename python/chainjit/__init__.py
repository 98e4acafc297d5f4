"""chainjit: a compiler for differentiable programs, from Python.

Graphs are built like NumPy expressions and every op of the IR is a function
here (made from the op table of the C++ library, so a new op needs no Python
change); derivatives return new graphs; compile() gives a callable on NumPy
arrays; Trainer trains a model. Everything is the C++ library's behaviour
(chainjit._core binds it); docs/python.md describes the package.
"""

import builtins as _py
import json as _json
import os as _os

from . import _core
from ._core import (
    Dataset,
    Error,
    Executable,
    Function,
    Graph,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    Value,
    batch_size,
    causal_mask,
    cross_validate,
    expand_modes,
    load,
    load_csv_dataset,
    load_idx_dataset,
    onnx_available,
    op_specs,
    parse,
    segment_sum,
    with_batch_size,
    with_outputs,
)
from ._core import call, parse_functions

__all__ = [
    "Dataset", "Error", "Executable", "Graph", "TrainConfig", "Trainer",
    "TrainingDiverged", "Value", "apply", "batch_size", "causal_mask", "compile",
    "cost", "cross_validate", "dump", "expand_modes", "grad", "hessian", "hvp", "jacobian", "jvp",
    "load", "load_csv_dataset", "load_idx_dataset", "load_weights", "op_specs",
    "ops", "parse", "save_weights", "segment_sum", "train", "vjp",
    "with_batch_size", "with_outputs",
    "from_onnx", "onnx_available",
    "Function", "call", "parse_functions",
]


def _name(v):
    """A value's name from a name or a named Value."""
    if isinstance(v, Value):
        if v.name is None:
            raise Error("the value %s has no name: give it one with .named('...')" % v)
        return v.name
    return v[1:] if isinstance(v, str) and v.startswith("%") else v


def _names(vs):
    if isinstance(vs, (str, Value)):
        return [_name(vs)]
    return [_name(v) for v in vs]


# --- ops -------------------------------------------------------------------

_SPECS = {s["name"]: s for s in op_specs()}


def apply(op, operands, graph=None, **attrs):
    """Any op of the IR by its text name (see docs/ir.md): operands are
    Values (or arrays and numbers, which become constants), attributes by
    name. The op's type rule checks everything at once."""
    return _core.apply(op, _operands(op, list(operands), graph), attrs, graph)


def _operands(op, operands, graph):
    """Arrays and numbers among the operands become constants of the graph
    (numbers take the dtype of a Value operand)."""
    like = next((o for o in operands if isinstance(o, Value)), None)
    g = like.graph if like is not None else graph
    out = []
    for o in operands:
        if isinstance(o, Value):
            out.append(o)
        elif g is None:
            raise Error("%s: give at least one Value operand or graph=" % op)
        elif isinstance(o, (int, float)) and like is not None:
            out.append(g.scalar(float(o), like.dtype))
        else:
            out.append(g.constant(o))
    return out


def _make_op(spec):
    name = spec["name"]
    lo, hi = spec["min_operands"], spec["max_operands"]
    attr_names = [a["name"] for a in spec["attrs"]]

    def op(*args, graph=None, **attrs):
        args = list(args)
        if hi == -1:
            # Variadic (concat): the operands come as one list.
            operands = list(args.pop(0)) if args and isinstance(args[0], (list, tuple)) else []
        else:
            operands = []
            while args and len(operands) < hi and (
                    isinstance(args[0], Value) or len(operands) < lo):
                operands.append(args.pop(0))
        if len(args) > len(attr_names):
            raise Error("%s: takes %d attributes (%s), got %d more arguments"
                        % (name, len(attr_names), ", ".join(attr_names), len(args)))
        for attr, value in zip(attr_names, args):
            if attr in attrs:
                raise Error("%s: attribute '%s' given twice" % (name, attr))
            attrs[attr] = value
        return apply(name, operands, graph=graph, **attrs)

    op.__name__ = op.__qualname__ = name
    operand_doc = ", ".join(spec["operand_names"]) or "(no operands: give graph=)"
    attr_doc = ", ".join(
        a["name"] + ("" if a["required"] else "=" + repr(a["default"])) for a in spec["attrs"])
    op.__doc__ = "%s\n\n%s(%s%s)" % (spec["summary"], name, operand_doc,
                                     (", " + attr_doc) if attr_doc else "")
    return op


class _Ops:
    """Every op of the IR as a function: chainjit.ops.NAME (also chainjit.NAME)."""


ops = _Ops()
for _spec in _SPECS.values():
    if _spec["family"] != "source":
        _f = _make_op(_spec)
        setattr(ops, _spec["name"], _f)
        globals()[_spec["name"]] = _f
        __all__.append(_spec["name"])
del _spec, _f
# scan takes its body as a Function (the generic op would need it in the
# graph's table already): chainjit.scan is the builder's ir::scan.
scan = _core.scan
ops.scan = scan
# Note: ops such as sum, max, abs, pow and slice are chainjit's here (cj.sum),
# as in NumPy; below this point the builtins of those names are _py.NAME.


# --- NumPy-style members of Value ------------------------------------------------

def _getitem(v, index):
    """x[1:3, ::2], x[0], x[..., -1]: a slice op (then a reshape that drops
    the axes indexed by an integer). Steps must be positive."""
    if not isinstance(index, tuple):
        index = (index,)
    if _py.sum(i is Ellipsis for i in index) > 1:
        raise Error("an index can have only one '...'")
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + (_py.slice(None),) * (v.ndim - len(index) + 1) + index[k + 1:]
    if len(index) > v.ndim:
        raise Error("too many indices (%d) for %s" % (len(index), v.type))
    index = index + (_py.slice(None),) * (v.ndim - len(index))
    starts, ends, strides, keep = [], [], [], []
    for axis, (i, n) in enumerate(zip(index, v.shape)):
        if isinstance(i, _py.slice):
            start, stop, step = i.indices(n)
            if step <= 0:
                raise Error("axis %d: negative or zero steps are not supported" % axis)
            starts.append(start)
            ends.append(_py.max(stop, start))
            strides.append(step)
            keep.append(len(range(start, stop, step)))
        elif isinstance(i, int):
            j = i + n if i < 0 else i
            if not 0 <= j < n:
                raise Error("index %d is out of range for axis %d of size %d" % (i, axis, n))
            starts.append(j)
            ends.append(j + 1)
            strides.append(1)
        else:
            raise Error("unsupported index %r (integers, slices and '...' are)" % (i,))
    out = slice(v, starts, ends, strides)
    return out if len(keep) == v.ndim else reshape(out, keep)


Value.__getitem__ = _getitem
Value.T = property(lambda v: transpose(v), doc="The reversed axes (transpose).")
Value.reshape = lambda v, *shape: reshape(
    v, list(shape[0]) if len(shape) == 1 and isinstance(shape[0], (list, tuple)) else list(shape))
Value.sum = lambda v, axis=None, keepdims=False: sum(v, _axes(axis), keepdims)
Value.mean = lambda v, axis=None, keepdims=False: mean(v, _axes(axis), keepdims)
Value.max = lambda v, axis=None, keepdims=False: max(v, _axes(axis), keepdims)
Value.astype = lambda v, dtype: cast(v, dtype)


def _axes(axis):
    if axis is None:
        return []
    return [axis] if isinstance(axis, int) else list(axis)


# --- printing ----------------------------------------------------------------

def dump(graph, format="text"):
    """The graph as .cj text, Graphviz DOT or JSON ("text", "dot", "json")."""
    if format == "text":
        return graph.text()
    if format == "dot":
        return graph.dot()
    if format == "json":
        return graph.json()
    raise Error("unknown dump format '%s' (expected text, dot or json)" % format)


# --- derivatives ---------------------------------------------------------------

def grad(graph, of, wrt, simplify=True):
    """Graph with outputs <of> and grad.<wrt> for each wrt (compiler::grad)."""
    return _core._grad(graph, _name(of), _names(wrt), simplify)


def jvp(graph, of, wrt, directions=1):
    """Forward mode: inputs tangent.<wrt> [k, ...], outputs <of>, tangent.<of>."""
    return _core._jvp(graph, _name(of), _names(wrt), directions)


def vjp(graph, of, wrt, directions=1):
    """Reverse mode: inputs adjoint.<of> [k, ...], outputs <of>, adjoint.<wrt>."""
    return _core._vjp(graph, _name(of), _names(wrt), directions)


def jacobian(graph, of, wrt, mode="optimal", simplify=True):
    """Outputs <of> and jacobian.<of>.<wrt>; mode forward, reverse or optimal
    (the chain optimizer's plan)."""
    return _core._jacobian(graph, _name(of), _name(wrt), mode, simplify)


def hessian(graph, of, wrt, mode="optimal"):
    """Outputs <of>, grad.<wrt> and hessian.<wrt> [...wrt, ...wrt]."""
    return _core._hessian(graph, _name(of), _name(wrt), mode)


def hvp(graph, of, wrt):
    """Inputs direction.<wrt>; outputs <of>, grad.<wrt>, hvp.<wrt>."""
    return _core._hvp(graph, _name(of), _names(wrt))


def cost(graph, of, wrt, format="dict", memory_limit=None, hessian=False, expand="eval",
         recompute=True):
    """The chain optimizer's cost report of d of / d wrt, as `chainjit cost`
    gives it: a dict (the --json schema, docs/cost-model.md), or the "json",
    "text" or "dot" string. memory_limit bounds the forward values in bytes:
    adjoint sweeps keep checkpoints and recompute the rest, as `chainjit cost
    --memory-limit` plans; recompute=False only keeps plans whose whole tape
    fits (`--no-recompute`)."""
    fmt = "json" if format == "dict" else format
    report = _core._cost(graph, _name(of), _names(wrt), fmt,
                         None if memory_limit is None else float(memory_limit), hessian, expand,
                         bool(recompute))
    return _json.loads(report) if format == "dict" else report


# --- running -------------------------------------------------------------------

def compile(graph, backend="jit", mode="eval", params=None, **options):
    """A callable on NumPy arrays: exe(x=..., labels=...) returns the outputs
    by name. backend "jit" or "interp"; mode "eval" or "train" expands
    dropout and batch_norm (None: not at all); params a dict of arrays or a
    weights file (.npz or checkpoint). Options: cache, cache_dir, fuse,
    check_numerics, blas_threshold, profile (compiler::JitOptions; with
    profile=True, exe.profiles() gives each kernel's time)."""
    if params is not None and isinstance(params, _os.PathLike):
        params = _os.fspath(params)
    return Executable(graph, backend, mode, params, **options)


def load_weights(path):
    """The params of a weights file (.npz or checkpoint) as a dict of arrays,
    read with numpy (a chainjit .npz is a plain NumPy archive)."""
    import numpy as np
    with np.load(_os.fspath(path)) as z:
        return {k[:-4] if k.endswith(".npy") else k: z[k] for k in z.files
                if not (k.startswith("__") and k.endswith("__"))}


def save_weights(path, params):
    """Writes a dict of arrays as an .npz archive that chainjit reads."""
    import numpy as np
    np.savez(_os.fspath(path), **{k: np.asarray(v) for k, v in params.items()})


# --- ONNX import -----------------------------------------------------------------


def from_onnx(path, consts=False, loss=None, labels="labels", dim_values=None):
    """An ONNX model (docs/onnx.md) as (graph, params): the graph with the
    model's inputs, its initializers as params (trainable) or, with
    consts=True, as consts, and its outputs; params a dict of the
    initializers' values as arrays, for compile(graph, params=params).
    loss="cross_entropy" attaches
    cross_entropy(first output, labels) as the first output, with `labels` a
    new i32 input. dim_values gives symbolic dimensions values
    ({"batch": 32}). The C++ library does the work (chainjit::frontends::importOnnx)."""
    return _core.import_onnx(_os.fspath(path), consts, loss, labels, dict(dim_values or {}))


# --- training --------------------------------------------------------------------

def train(model, data, validation=None, on_epoch=None, **config):
    """Trains `model` on data ((features, labels) arrays or a Dataset) with
    TrainConfig(**config); returns (trainer, history)."""
    trainer = Trainer(model, TrainConfig(**config))
    history = trainer.fit(data, validation, on_epoch)
    return trainer, history
