// Where the tests find the repository: two globals of a file that
// tests/CMakeLists.txt generates (TestPaths.cpp.in), included into every test
// source by the build. Path strings on the compile commands instead would
// make them depend on where the checkout lies, and ccache could not serve
// another clone (CI's) from the same cache.
#pragma once

extern const char *const chainjit_source_dir; // the repository root
extern const char *const chainjit_tests_dir;  // tests/

#define CHAINJIT_SOURCE_DIR chainjit_source_dir
#define CHAINJIT_TESTS_DIR chainjit_tests_dir
