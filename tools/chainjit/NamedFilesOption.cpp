#include "Commands.h"

#include <algorithm>

// "x=train_x.npy,y=train_y.npy": a file per model input, for train's
// --data, --test-data, --validation-data and --masks and predict's --data.

namespace chainjit::cli {

NamedFiles parseNamedFiles(const std::string &spec, const std::string &flag) {
  NamedFiles out;
  if (spec.empty())
    return out;
  size_t from = 0;
  while (from <= spec.size()) {
    size_t comma = std::min(spec.find(',', from), spec.size());
    std::string part = spec.substr(from, comma - from);
    from = comma + 1;
    size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == part.size())
      throw UsageError(flag + " '" + spec + "': '" + part + "' is not NAME=FILE (write " + flag +
                       " x=train_x.npy,y=train_y.npy)");
    std::string name = part.substr(0, eq);
    if (name[0] == '%')
      name.erase(0, 1);
    for (const auto &[seen, path] : out)
      if (seen == name)
        throw UsageError(flag + " '" + spec + "': '" + name + "' is given twice");
    out.push_back({name, part.substr(eq + 1)});
  }
  return out;
}

} // namespace chainjit::cli
