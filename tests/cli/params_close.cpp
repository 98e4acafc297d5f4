// params_close A B [--rtol R]: exit 0 when the two weights files (training
// checkpoints or .npz archives) hold the same params, each entry within
// R * (1 + max |entry| of that param) (default 1e-4: f32 rounding of a
// short run summed in another order); otherwise lists what differs, exit 1.
// The data-parallel tests compare runs on different numbers of ranks.
#include "chainjit/runtime/Weights.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char **argv) {
  if (argc != 3 && argc != 5) {
    std::cerr << "usage: params_close A B [--rtol R]\n";
    return 2;
  }
  double rtol = argc == 5 ? std::atof(argv[4]) : 1e-4;
  try {
    auto a = chainjit::runtime::loadWeights(argv[1]).params;
    auto b = chainjit::runtime::loadWeights(argv[2]).params;
    bool same = true;
    for (const auto &[name, x] : a) {
      auto it = b.find(name);
      if (it == b.end() || it->second.type() != x.type()) {
        std::cout << name << ": missing or of another type in " << argv[2] << "\n";
        same = false;
        continue;
      }
      double scale = 0, worst = 0;
      for (int64_t i = 0; i < x.numel(); ++i) {
        scale = std::max(scale, std::abs(x.at(i)));
        worst = std::max(worst, std::abs(x.at(i) - it->second.at(i)));
      }
      bool ok = worst <= rtol * (1 + scale);
      std::cout << name << ": max |difference| " << worst << (ok ? "" : "  TOO LARGE") << "\n";
      same = same && ok;
    }
    if (a.size() != b.size()) {
      std::cout << argv[2] << " has params that " << argv[1] << " lacks\n";
      same = false;
    }
    return same ? 0 : 1;
  } catch (const std::exception &e) {
    std::cerr << "params_close: " << e.what() << "\n";
    return 2;
  }
}
