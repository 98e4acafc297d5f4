#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "FileTesting.h"

// CHECK_THROWS_WITH sees a chainjit::Error as the command-line tool prints it,
// "where: error: message" per diagnostic (what() leaves out "error:").
REGISTER_EXCEPTION_TRANSLATOR(const chainjit::Error &e) {
  return doctest::String(chainjit::testing::cliMessage(e).c_str());
}
