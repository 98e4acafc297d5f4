/* The C-ABI support every ahead-of-time bundle links (chainjit compile
 * --aot): what a bundle's generated <name>_run and <name>_check functions
 * call. It is compiled twice: into chainjit_compiler (so unit tests can call
 * it) and, with the library kernels, into the relocatable kernel objects that
 * are copied into every bundle; there it may use nothing but libc, so this
 * file is plain C in C++ clothing: no exceptions, no heap of libstdc++, no
 * statics with constructors.
 *
 * A bundle's generated object holds one cj_bundle_desc (its layout is built
 * as an LLVM struct in BundleModule.cpp: keep the two in step, and bump
 * CJ_BUNDLE_ABI_VERSION when either changes). */
#ifndef CHAINJIT_AOT_BUNDLE_RUNTIME_H
#define CHAINJIT_AOT_BUNDLE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#define CJ_BUNDLE_ABI_VERSION 1

/* Status codes of <name>_run and <name>_check. Those below 16 are the
 * generated code's own (the JIT's JitStatusCode values, LibraryKernels.h);
 * 16 and above are the bundle runtime's. */
enum {
  CJ_BUNDLE_OK = 0,
  CJ_BUNDLE_SINGULAR_MATRIX = 1, /* solve: a zero pivot */
  CJ_BUNDLE_NON_FINITE = 2,      /* not produced: bundles are built without --check-numerics */
  CJ_BUNDLE_LABEL_OUT_OF_RANGE = 3, /* cross_entropy: a label outside [0, classes) */
  CJ_BUNDLE_INDEX_OUT_OF_RANGE = 4, /* gather, scatter_add, one_hot: an index out of range */
  CJ_BUNDLE_INVALID_CSR = 5,     /* spmm, sddmm: row_ptr/col_idx are not a CSR structure */
  CJ_BUNDLE_OUT_OF_MEMORY = 16,  /* the workspace could not be allocated */
  CJ_BUNDLE_CPU_UNSUPPORTED = 17, /* the running CPU lacks a feature the code uses */
  CJ_BUNDLE_BAD_ARGUMENT = 18,   /* a NULL buffer, a misaligned workspace, another ABI */
};

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t (*cj_bundle_entry_fn)(void *const *buffers, void *arena, int64_t *failed_node);

struct cj_bundle_desc {
  int32_t abi_version;
  int32_t num_buffers;           /* the entry's buffers (inputs, params, outputs) */
  int64_t workspace_bytes;       /* the arena one call needs (64-byte aligned) */
  cj_bundle_entry_fn entry;
  const char *name;              /* the bundle's name (its C prefix) */
  const char *target_cpu;        /* the CPU the code was compiled for */
  const char *features;          /* its enabled features, "+avx2,+fma,..." */
  int64_t num_nodes;
  const char *const *node_labels; /* per node: "%logits" or "node #7" */
  const char *const *node_ops;    /* per node: its op's name */
  const char *const *buffer_names; /* per buffer: "input x", "param W1", "output probs" */
  int32_t *cpu_state;            /* writable: 0 not checked yet, 1 fine, 2 unsupported */
};

/* 0 when the running CPU has every feature of d->features that this file
 * knows how to test (the x86 features of CPUID, with the OS's support for
 * the AVX and AVX-512 register state); else CJ_BUNDLE_CPU_UNSUPPORTED with a
 * message naming the missing features in err (err_size bytes, always
 * terminated when err_size > 0; err may be NULL). */
int32_t cj_bundle_check_cpu(const struct cj_bundle_desc *d, char *err, size_t err_size);

/* Checks the CPU (once per process and bundle, then remembered), the
 * buffers (none NULL) and the workspace (NULL: allocated and freed here;
 * else 64-byte aligned), runs d->entry and turns its status into a code and
 * a message naming the node. Never aborts. */
int32_t cj_bundle_call(const struct cj_bundle_desc *d, void *const *buffers, void *workspace,
                       char *err, size_t err_size);

/* 1 when this file can test `feature` (an LLVM x86 feature name such as
 * "avx2"), and then *present says whether the running CPU has it. */
int32_t cj_bundle_cpu_has(const char *feature, int32_t *present);

#ifdef __cplusplus
}
#endif

#endif
