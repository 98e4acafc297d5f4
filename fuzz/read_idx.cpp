// libFuzzer target: the IDX (MNIST) reader of data/DatasetLoaders.cpp, gzip
// included. An input is an images file and a labels file: its first two
// bytes (little-endian) give the length of the images file, which follows;
// the rest is the labels file (tools/make_fuzz_seeds.py writes such inputs).
// Any bytes either fail with a chainjit::Error or give a dataset whose
// features have one row per label.
#include "FuzzTarget.h"

#include "chainjit/ir/Error.h"
#include "chainjit/runtime/Dataset.h"

#include <algorithm>
#include <string_view>

using namespace chainjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  size_t imagesLen = std::min<size_t>(data[0] | size_t(data[1]) << 8, size - 2);
  std::string_view images(reinterpret_cast<const char *>(data) + 2, imagesLen);
  std::string_view labels(reinterpret_cast<const char *>(data) + 2 + imagesLen,
                          size - 2 - imagesLen);
  ir::DType dtype = size % 2 ? ir::DType::f64 : ir::DType::f32;
  try {
    runtime::Dataset d = runtime::parseIdxDataset(images, "images.idx", labels, "labels.idx", dtype);
    if (d.features.shape().size() != 2 || d.features.shape()[0] != d.size())
      fuzz::invariantBroken("the dataset's features and labels disagree");
  } catch (const Error &) {
  }
  return 0;
}
