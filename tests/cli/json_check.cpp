// Reads a JSON document from stdin and checks it: it must parse, and each
// argument POINTER=VALUE (a JSON pointer, a JSON value) must hold, e.g.
//   json_check /optimum/cost=60800 '/optimum/expression="adj[F1..F3]"'
// POINTER alone checks that the value exists. Numbers compare by value
// (15125 equals 15125.0). Exit 0 when all hold, 1 otherwise. The CLI tests
// use it instead of python3 or jq, which a fresh machine may lack.
#include <nlohmann/json.hpp>

#include <iostream>
#include <iterator>
#include <string>

int main(int argc, char **argv) {
  std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const std::exception &e) {
    std::cout << "FAIL: stdin is not JSON: " << e.what() << "\n";
    return 1;
  }
  int status = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    std::string pointer = arg.substr(0, eq);
    try {
      const nlohmann::json &got = doc.at(nlohmann::json::json_pointer(pointer));
      if (eq == std::string::npos) {
        std::cout << "ok: " << pointer << " exists\n";
        continue;
      }
      nlohmann::json want = nlohmann::json::parse(arg.substr(eq + 1));
      if (got == want) {
        std::cout << "ok: " << pointer << " = " << got.dump() << "\n";
      } else {
        std::cout << "FAIL: " << pointer << " is " << got.dump() << ", expected "
                  << want.dump() << "\n";
        status = 1;
      }
    } catch (const std::exception &e) {
      std::cout << "FAIL: " << arg << ": " << e.what() << "\n";
      status = 1;
    }
  }
  if (status == 0)
    std::cout << "ok: valid JSON, " << argc - 1 << " checks hold\n";
  return status;
}
