// The support functions of ahead-of-time bundles (BundleRuntime.h). Only
// libc: this file is linked into programs that have no C++ runtime.
#include "aot/BundleRuntime.h"

#include "jit/LibraryKernels.h"
#include "jit/kernels/IndexFault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CJ_BUNDLE_X86 1
#endif

// The generated code's status codes are the JIT's.
static_assert(int{CJ_BUNDLE_SINGULAR_MATRIX} == int{chainjit::compiler::jit::kJitSingularMatrix});
static_assert(int{CJ_BUNDLE_NON_FINITE} == int{chainjit::compiler::jit::kJitNonFinite});
static_assert(int{CJ_BUNDLE_LABEL_OUT_OF_RANGE} ==
              int{chainjit::compiler::jit::kJitLabelOutOfRange});
static_assert(int{CJ_BUNDLE_INDEX_OUT_OF_RANGE} ==
              int{chainjit::compiler::jit::kJitIndexOutOfRange});
static_assert(int{CJ_BUNDLE_INVALID_CSR} == int{chainjit::compiler::jit::kJitInvalidCsr});

namespace {

// Appends to a bounded message buffer; never writes past err_size.
struct Message {
  char *buf;
  size_t size, used = 0;
  void add(const char *s) {
    if (!buf || size == 0)
      return;
    size_t n = strlen(s);
    size_t room = size - 1 - used;
    if (n > room)
      n = room;
    memcpy(buf + used, s, n);
    used += n;
    buf[used] = '\0';
  }
  void number(long long v) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", v);
    add(tmp);
  }
};

#ifdef CJ_BUNDLE_X86
// Where CPUID reports a feature: leaf, subleaf, register (0 eax .. 3 edx),
// bit, and the register state the OS must enable (XCR0 bits) to use it.
struct CpuFeature {
  const char *name; // LLVM's name
  unsigned leaf, subleaf, reg, bit;
  unsigned long long xcr0;
};

constexpr unsigned long long kAvxState = 0x6;      // SSE + AVX (YMM) state
constexpr unsigned long long kAvx512State = 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
constexpr unsigned long long kAmxState = 0x60000;  // XTILECFG + XTILEDATA

constexpr CpuFeature kFeatures[] = {
    {"cx8", 1, 0, 3, 8, 0},         {"cmov", 1, 0, 3, 15, 0},
    {"mmx", 1, 0, 3, 23, 0},        {"fxsr", 1, 0, 3, 24, 0},
    {"sse", 1, 0, 3, 25, 0},        {"sse2", 1, 0, 3, 26, 0},
    {"sse3", 1, 0, 2, 0, 0},        {"pclmul", 1, 0, 2, 1, 0},
    {"ssse3", 1, 0, 2, 9, 0},       {"fma", 1, 0, 2, 12, kAvxState},
    {"cx16", 1, 0, 2, 13, 0},       {"sse4.1", 1, 0, 2, 19, 0},
    {"sse4.2", 1, 0, 2, 20, 0},     {"movbe", 1, 0, 2, 22, 0},
    {"popcnt", 1, 0, 2, 23, 0},     {"aes", 1, 0, 2, 25, 0},
    {"xsave", 1, 0, 2, 26, 0},      {"avx", 1, 0, 2, 28, kAvxState},
    {"f16c", 1, 0, 2, 29, kAvxState}, {"rdrnd", 1, 0, 2, 30, 0},
    {"fsgsbase", 7, 0, 1, 0, 0},    {"bmi", 7, 0, 1, 3, 0},
    {"avx2", 7, 0, 1, 5, kAvxState}, {"bmi2", 7, 0, 1, 8, 0},
    {"avx512f", 7, 0, 1, 16, kAvx512State}, {"avx512dq", 7, 0, 1, 17, kAvx512State},
    {"rdseed", 7, 0, 1, 18, 0},     {"adx", 7, 0, 1, 19, 0},
    {"avx512ifma", 7, 0, 1, 21, kAvx512State}, {"clflushopt", 7, 0, 1, 23, 0},
    {"clwb", 7, 0, 1, 24, 0},       {"avx512cd", 7, 0, 1, 28, kAvx512State},
    {"sha", 7, 0, 1, 29, 0},        {"avx512bw", 7, 0, 1, 30, kAvx512State},
    {"avx512vl", 7, 0, 1, 31, kAvx512State}, {"avx512vbmi", 7, 0, 2, 1, kAvx512State},
    {"avx512vbmi2", 7, 0, 2, 6, kAvx512State}, {"gfni", 7, 0, 2, 8, 0},
    {"vaes", 7, 0, 2, 9, kAvxState}, {"vpclmulqdq", 7, 0, 2, 10, kAvxState},
    {"avx512vnni", 7, 0, 2, 11, kAvx512State}, {"avx512bitalg", 7, 0, 2, 12, kAvx512State},
    {"avx512vpopcntdq", 7, 0, 2, 14, kAvx512State}, {"rdpid", 7, 0, 2, 22, 0},
    {"movdiri", 7, 0, 2, 27, 0},    {"movdir64b", 7, 0, 2, 28, 0},
    {"avx512vp2intersect", 7, 0, 3, 8, kAvx512State}, {"serialize", 7, 0, 3, 14, 0},
    {"amx-bf16", 7, 0, 3, 22, kAmxState}, {"avx512fp16", 7, 0, 3, 23, kAvx512State},
    {"amx-tile", 7, 0, 3, 24, kAmxState}, {"amx-int8", 7, 0, 3, 25, kAmxState},
    {"avxvnni", 7, 1, 0, 4, kAvxState}, {"avx512bf16", 7, 1, 0, 5, kAvx512State},
    {"cmpccxadd", 7, 1, 0, 7, 0},   {"amx-fp16", 7, 1, 0, 21, kAmxState},
    {"avxifma", 7, 1, 0, 23, kAvxState}, {"avxvnniint8", 7, 1, 3, 4, kAvxState},
    {"avxneconvert", 7, 1, 3, 5, kAvxState}, {"avxvnniint16", 7, 1, 3, 10, kAvxState},
    {"sahf", 0x80000001u, 0, 2, 0, 0}, {"lzcnt", 0x80000001u, 0, 2, 5, 0},
    {"sse4a", 0x80000001u, 0, 2, 6, 0}, {"prfchw", 0x80000001u, 0, 2, 8, 0},
    {"xop", 0x80000001u, 0, 2, 11, kAvxState}, {"fma4", 0x80000001u, 0, 2, 16, kAvxState},
    {"tbm", 0x80000001u, 0, 2, 21, 0},
};

bool cpuHas(const CpuFeature &f) {
  unsigned regs[4] = {0, 0, 0, 0};
  unsigned maxLeaf = __get_cpuid_max(f.leaf & 0x80000000u, nullptr);
  if (maxLeaf < f.leaf)
    return false;
  __cpuid_count(f.leaf, f.subleaf, regs[0], regs[1], regs[2], regs[3]);
  if (!((regs[f.reg] >> f.bit) & 1u))
    return false;
  if (f.xcr0 == 0)
    return true;
  // The OS must save the registers: OSXSAVE (leaf 1 ecx bit 27), then XCR0.
  unsigned a, b, c, d;
  __cpuid(1, a, b, c, d);
  if (!((c >> 27) & 1u))
    return false;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  unsigned long long xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  return (xcr0 & f.xcr0) == f.xcr0;
}

const CpuFeature *findFeature(const char *name, size_t len) {
  for (const CpuFeature &f : kFeatures)
    if (strlen(f.name) == len && strncmp(f.name, name, len) == 0)
      return &f;
  return nullptr;
}
#endif

const char *statusText(int32_t code) {
  switch (code) {
  case CJ_BUNDLE_SINGULAR_MATRIX:
    return "solve: the matrix is singular (zero pivot in its LU factorization)";
  case CJ_BUNDLE_NON_FINITE:
    return "produced NaN or Inf";
  case CJ_BUNDLE_LABEL_OUT_OF_RANGE:
    return "cross_entropy: a label is out of range [0, classes)";
  case CJ_BUNDLE_INDEX_OUT_OF_RANGE:
    return "an index is out of range";
  case CJ_BUNDLE_INVALID_CSR: // the details stay in the sparse kernels' object, which
                              // only a bundle that has spmm or sddmm links
    return "row_ptr and col_idx are not a valid CSR structure (the interpreter or the JIT "
           "names the offending value and its position)";
  default:
    return "failed with an unknown status";
  }
}

} // namespace

extern "C" int32_t cj_bundle_cpu_has(const char *feature, int32_t *present) {
#ifdef CJ_BUNDLE_X86
  const CpuFeature *f = findFeature(feature, strlen(feature));
  if (!f)
    return 0;
  *present = cpuHas(*f) ? 1 : 0;
  return 1;
#else
  return 0;
#endif
}

extern "C" int32_t cj_bundle_check_cpu(const struct cj_bundle_desc *d, char *err,
                                       size_t err_size) {
  Message m{err, err_size};
  m.add("");
  int missing = 0;
#ifdef CJ_BUNDLE_X86
  // d->features: "+name,+name,..." (only enabled features are listed).
  for (const char *p = d->features; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? static_cast<size_t>(end - p) : strlen(p);
    if (len > 1 && p[0] == '+') {
      const CpuFeature *f = findFeature(p + 1, len - 1);
      if (f && !cpuHas(*f)) {
        if (missing++ == 0) {
          m.add("bundle '");
          m.add(d->name);
          m.add("' was compiled for CPU '");
          m.add(d->target_cpu);
          m.add("', and this CPU lacks ");
        } else {
          m.add(", ");
        }
        m.add(f->name);
      }
    }
    if (!end)
      break;
    p = end + 1;
  }
  if (missing)
    m.add(" (compile the bundle with --target-cpu for this machine, or a generic one such as "
          "x86-64-v2)");
#endif
  return missing ? CJ_BUNDLE_CPU_UNSUPPORTED : CJ_BUNDLE_OK;
}

extern "C" int32_t cj_bundle_call(const struct cj_bundle_desc *d, void *const *buffers,
                                  void *workspace, char *err, size_t err_size) {
  Message m{err, err_size};
  m.add("");
  if (d->abi_version != CJ_BUNDLE_ABI_VERSION) {
    m.add("bundle '");
    m.add(d->name);
    m.add("': its object has ABI version ");
    m.number(d->abi_version);
    m.add(", its support code version ");
    m.number(CJ_BUNDLE_ABI_VERSION);
    return CJ_BUNDLE_BAD_ARGUMENT;
  }
  int32_t state = __atomic_load_n(d->cpu_state, __ATOMIC_ACQUIRE);
  if (state != 1) {
    // Checked once; a race only checks twice.
    int32_t code = cj_bundle_check_cpu(d, err, err_size);
    __atomic_store_n(d->cpu_state, code == CJ_BUNDLE_OK ? 1 : 2, __ATOMIC_RELEASE);
    if (code != CJ_BUNDLE_OK)
      return code;
  }
  if (!buffers) {
    m.add("bundle '");
    m.add(d->name);
    m.add("': the buffer array is NULL");
    return CJ_BUNDLE_BAD_ARGUMENT;
  }
  for (int32_t i = 0; i < d->num_buffers; ++i)
    if (!buffers[i]) {
      m.add("bundle '");
      m.add(d->name);
      m.add("': the buffer of ");
      m.add(d->buffer_names[i]);
      m.add(" is NULL");
      return CJ_BUNDLE_BAD_ARGUMENT;
    }
  void *arena = workspace;
  bool owned = false;
  if (workspace && (reinterpret_cast<uintptr_t>(workspace) % 64) != 0) {
    m.add("bundle '");
    m.add(d->name);
    m.add("': the workspace is not aligned to 64 bytes");
    return CJ_BUNDLE_BAD_ARGUMENT;
  }
  if (!arena && d->workspace_bytes > 0) {
    if (posix_memalign(&arena, 64, static_cast<size_t>(d->workspace_bytes)) != 0) {
      m.add("bundle '");
      m.add(d->name);
      m.add("': cannot allocate the workspace of ");
      m.number(d->workspace_bytes);
      m.add(" bytes");
      return CJ_BUNDLE_OUT_OF_MEMORY;
    }
    owned = true;
  }
  int64_t failed = -1;
  int32_t code = d->entry(buffers, arena, &failed);
  if (owned)
    free(arena);
  if (code == CJ_BUNDLE_OK)
    return code;
  m.add("bundle '");
  m.add(d->name);
  m.add("': ");
  if (failed >= 0 && failed < d->num_nodes) {
    m.add(d->node_labels[failed]);
    m.add(": ");
    if (code == CJ_BUNDLE_NON_FINITE || code == CJ_BUNDLE_INDEX_OUT_OF_RANGE ||
        code == CJ_BUNDLE_INVALID_CSR) {
      m.add(d->node_ops[failed]); // "%y: exp produced NaN", "%e: gather: an index ..."
      m.add(code == CJ_BUNDLE_NON_FINITE ? " " : ": ");
    }
  }
  m.add(statusText(code));
  if (code == CJ_BUNDLE_INDEX_OUT_OF_RANGE) {
    // The kernel left the index and its position on this thread.
    const chainjit::compiler::jit::IndexFault f = chainjit::compiler::jit::lastIndexFault();
    m.add(": index ");
    m.number(f.value);
    m.add(" at element ");
    m.number(f.position);
    m.add(" of the indices");
  }
  return code;
}
