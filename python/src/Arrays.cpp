// Between NumPy arrays and chainjit tensors. Dtypes must match exactly for
// ndarrays (a float64 array given for an f32 input is an error, not a silent
// rounding); plain Python lists and numbers are converted.
#include "Bindings.h"

#include "chainjit/ir/Error.h"

#include <cstring>
#include <limits>

namespace chainjit::python {

namespace {

ir::Shape shapeOf(const py::array &a) {
  return ir::Shape(a.shape(), a.shape() + a.ndim());
}

std::string shapeTuple(const py::array &a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

std::optional<ir::DType> dtypeOfArray(const py::array &a) {
  char kind = a.dtype().kind();
  size_t size = a.dtype().itemsize();
  if (kind == 'f' && size == 4)
    return ir::DType::f32;
  if (kind == 'f' && size == 8)
    return ir::DType::f64;
  if (kind == 'i' && size == 4)
    return ir::DType::i32;
  if (kind == 'b')
    return ir::DType::boolean;
  return std::nullopt;
}

} // namespace

ir::DType toDType(const py::handle &obj, const std::string &what) {
  if (py::isinstance<py::str>(obj)) {
    std::string name = obj.cast<std::string>();
    if (auto t = ir::parseDType(name))
      return *t;
    for (auto [alias, t] : {std::pair{"float32", ir::DType::f32}, {"float64", ir::DType::f64},
                            {"int32", ir::DType::i32}, {"bool_", ir::DType::boolean}})
      if (name == alias)
        return t;
    throw Error(what + ": unknown dtype '" + name + "' (expected f32, f64, i32 or bool)");
  }
  py::dtype dt = py::dtype::from_args(py::reinterpret_borrow<py::object>(obj));
  py::array probe(dt, std::vector<py::ssize_t>{0});
  if (auto t = dtypeOfArray(probe))
    return *t;
  throw Error(what + ": dtype " + py::str(dt).cast<std::string>() +
              " has no chainjit counterpart (f32, f64, i32 or bool)");
}

py::dtype numpyDType(ir::DType t) {
  switch (t) {
  case ir::DType::f32: return py::dtype("float32");
  case ir::DType::f64: return py::dtype("float64");
  case ir::DType::i32: return py::dtype("int32");
  case ir::DType::boolean: return py::dtype("bool");
  }
  throw Error("unknown dtype");
}

std::string describeArray(const py::array &a) {
  return py::str(a.dtype()).cast<std::string>() + " array of shape " + shapeTuple(a);
}

py::array bufferOfType(const py::handle &obj, const ir::TensorType &type,
                       const std::string &what) {
  py::array a;
  if (py::isinstance<py::array>(obj)) {
    a = py::reinterpret_borrow<py::array>(obj);
    if (dtypeOfArray(a) != type.dtype || shapeOf(a) != type.shape)
      throw Error(what + ": expected " + type.str() + ", got " + describeArray(a));
    if (!(a.flags() & py::array::c_style) ||
        reinterpret_cast<uintptr_t>(a.data()) % ir::dtypeSize(type.dtype) != 0)
      a = py::module_::import("numpy").attr("ascontiguousarray")(obj);
    return a;
  }
  a = py::array::ensure(py::module_::import("numpy").attr("asarray")(obj, numpyDType(type.dtype)),
                        py::array::c_style);
  if (!a || shapeOf(a) != type.shape)
    throw Error(what + ": expected " + type.str() + ", got " +
                (a ? "a value of shape " + shapeTuple(a) : std::string("an unconvertible value")));
  return a;
}

ir::Tensor tensorOfType(const py::handle &obj, const ir::TensorType &type,
                        const std::string &what) {
  py::array a = bufferOfType(obj, type, what);
  ir::Tensor t(type);
  if (t.byteSize())
    std::memcpy(t.data(), a.data(), t.byteSize());
  return t;
}

ir::Tensor tensorFromArray(const py::handle &obj, const std::string &what) {
  py::module_ np = py::module_::import("numpy");
  py::array a = np.attr("asarray")(obj);
  std::optional<ir::DType> dt = dtypeOfArray(a);
  if (!dt && (a.dtype().kind() == 'i' || a.dtype().kind() == 'u')) {
    // NumPy's default integers are int64: accept them when every value fits.
    if (a.size() > 0) {
      py::object lo = np.attr("min")(a), hi = np.attr("max")(a);
      if (lo.cast<int64_t>() < std::numeric_limits<int32_t>::min() ||
          hi.cast<int64_t>() > std::numeric_limits<int32_t>::max())
        throw Error(what + ": integer values out of the range of i32");
    }
    a = a.attr("astype")(numpyDType(ir::DType::i32));
    dt = ir::DType::i32;
  }
  if (!dt)
    throw Error(what + ": " + describeArray(a) +
                " has no chainjit dtype (float32, float64, int32 or bool)");
  return tensorOfType(a, {*dt, shapeOf(a)}, what);
}

py::array arrayFromTensor(const ir::Tensor &t) {
  py::array a(numpyDType(t.dtype()), t.shape());
  if (t.byteSize())
    std::memcpy(a.mutable_data(), t.data(), t.byteSize());
  return a;
}

} // namespace chainjit::python
