// NumPy .npz archives: named tensors in one zip file, one member NAME.npy per
// tensor, as numpy.savez (members stored) and numpy.savez_compressed
// (members deflated) write them. The zip container is libzip's; each member
// is read and written by parseNpy / formatNpy (TensorIO.h).
//
// Reading validates the archive before any member is used: libzip checks
// the zip structure and each member's CRC-32; every member must be named
// NAME.npy with a non-empty NAME that no other member has, its size is
// checked against the allocation limit (ir::checkAlloc) before it is
// inflated, and its bytes must be a valid .npy file. Errors name the archive
// and the member.
#pragma once

#include "chainjit/runtime/Checkpoint.h" // TensorMap

#include <string>
#include <string_view>

namespace chainjit::runtime {

// Every tensor of the archive, by member name without ".npy".
TensorMap loadNpz(const std::string &path);
// The same for an archive's bytes in memory; `filename` names it in errors.
TensorMap parseNpz(std::string_view bytes, const std::string &filename);

// An archive like numpy.savez's: members NAME.npy, stored (uncompressed),
// in the order of the map, each dated 1980-01-01 so that the same tensors
// give the same bytes. Names must be non-empty.
std::string formatNpz(const TensorMap &tensors, const std::string &filename = "<npz>");
// Written atomically: to PATH.tmp, then renamed over PATH (a PATH that
// exists and is no regular file, such as /dev/stdout, is written directly).
void saveNpz(const std::string &path, const TensorMap &tensors);

} // namespace chainjit::runtime
