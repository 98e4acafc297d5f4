// libFuzzer target: the CSV readers, the tensor table of TensorIO.cpp and the
// labelled dataset of data/DatasetLoaders.cpp (gzip included: an input that
// starts with 1f 8b is decompressed first). Any bytes either fail with a
// chainjit::Error or give a table whose rows all have the same width and a
// dataset with one label per row.
#include "FuzzTarget.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/TensorIO.h"

#include <string_view>

using namespace chainjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  try {
    runtime::CsvTable t = runtime::parseCsv(bytes, "fuzz.csv");
    if (static_cast<int64_t>(t.values.size()) != t.rows * t.cols ||
        static_cast<int64_t>(t.lines.size()) != t.rows)
      fuzz::invariantBroken("the table's size does not match its rows and columns");
  } catch (const Error &) {
  }
  // The label first or last, f32 or f64, chosen by the input's size so that
  // every choice is exercised.
  runtime::CsvDatasetOptions opts;
  opts.labelColumn = size % 2 ? 0 : -1;
  opts.dtype = size % 4 < 2 ? ir::DType::f32 : ir::DType::f64;
  try {
    runtime::Dataset d = runtime::parseCsvDataset(bytes, "fuzz.csv", opts);
    if (d.features.shape().size() != 2 || d.features.shape()[0] != d.size())
      fuzz::invariantBroken("the dataset's features and labels disagree");
  } catch (const Error &) {
  }
  return 0;
}
