# Sanitizer and fuzzing builds (docs/reliability.md says how to run them).
#   -DCHAINJIT_ASAN=ON  AddressSanitizer + UndefinedBehaviorSanitizer (with
#                       float-cast-overflow), no recovery: the first report
#                       ends the process with a non-zero status.
#   -DCHAINJIT_TSAN=ON  ThreadSanitizer.
#   -DCHAINJIT_FUZZ=ON  libFuzzer targets in fuzz/ (needs clang).
option(CHAINJIT_ASAN "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(CHAINJIT_TSAN "Build with ThreadSanitizer" OFF)
option(CHAINJIT_FUZZ "Build the libFuzzer targets (clang only)" OFF)

if(CHAINJIT_ASAN AND CHAINJIT_TSAN)
  message(FATAL_ERROR "CHAINJIT_ASAN and CHAINJIT_TSAN exclude each other: use two build directories")
endif()

set(CHAINJIT_SANITIZER_FLAGS)
if(CHAINJIT_ASAN)
  set(CHAINJIT_SANITIZER_FLAGS -fsanitize=address,undefined,float-cast-overflow
      -fno-sanitize-recover=all)
elseif(CHAINJIT_TSAN)
  set(CHAINJIT_SANITIZER_FLAGS -fsanitize=thread)
endif()
if(CHAINJIT_SANITIZER_FLAGS)
  add_compile_options(${CHAINJIT_SANITIZER_FLAGS} -fno-omit-frame-pointer -g)
  add_link_options(${CHAINJIT_SANITIZER_FLAGS})
endif()

if(CHAINJIT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CHAINJIT_FUZZ needs clang (libFuzzer), e.g. CXX=clang++-19 CC=clang-19")
  endif()
  # Coverage feedback from the libraries the fuzz targets call, not just
  # from the targets themselves; other programs of the build run unchanged.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
