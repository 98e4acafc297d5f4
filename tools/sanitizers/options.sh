# Sourced (`. tools/sanitizers/options.sh`): the runtime options of the
# ASan+UBSan build for every process started afterwards from this shell.
#   ASan   detect_leaks=1 (LeakSanitizer at exit), halt at the first report,
#          an allocation too large for the allocator returns null as malloc
#          would (allocator_may_return_null: the code under test handles it,
#          and the tests of that handling would otherwise abort),
#          stack use after return, globals used before their initialization,
#          string functions checked over the whole string
#   UBSan  a stack trace with each report, halt at the first (the build's
#          -fno-sanitize-recover=all halts anyway; this covers a rebuild
#          without it)
# Nothing is suppressed: the suite is clean. Should a library built without
# sanitizers (LLVM, OpenBLAS) ever report a false positive, add a
# suppressions file here with a comment per entry, never for chainjit's code.
# Options already in the environment come last and so win (the last setting
# of an option counts): `ASAN_OPTIONS=detect_leaks=0 tools/test-sanitized.sh`.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:allocator_may_return_null=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
