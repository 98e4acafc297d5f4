// The allocation limit: the most bytes one graph may allocate (its params,
// its intermediate values and its inputs together). Every allocation whose
// size comes from a graph or a file is checked against it before it is made,
// so a graph or file that cannot fit fails with a message naming what was
// too large instead of an out-of-memory kill or a failed allocation.
//
// The limit is the machine's physical memory unless $CHAINJIT_ALLOC_LIMIT
// (bytes, optionally with a K, M, G or T suffix, powers of 1024) or
// setAllocLimit() says otherwise. It is process-wide and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chainjit::ir {

// The limit in force, in bytes.
uint64_t allocLimit();
// Sets the limit; 0 restores the default (the environment, else physical memory).
void setAllocLimit(uint64_t bytes);

// Throws chainjit::Error when `bytes` exceed the limit:
// "<what> needs 12.0 GiB, more than the allocation limit of 8.0 GiB (...)".
void checkAlloc(uint64_t bytes, std::string_view what);

// "512 B", "1.5 KiB", "12.0 GiB": sizes in messages.
std::string formatBytes(uint64_t bytes);

// Parses "1000", "64M", "1.5G", "2T" (suffixes K/M/G/T, powers of 1024; an
// optional trailing 'B' or 'iB'). Throws chainjit::Error naming `text`.
uint64_t parseByteCount(std::string_view text);

} // namespace chainjit::ir
