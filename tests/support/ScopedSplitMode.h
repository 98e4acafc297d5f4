// Sets how the kernels split their items over threads for a scope, as
// $CHAINJIT_KERNEL_THREADS would ("1" never splits, "force" always, null:
// as the environment says), and restores the previous setting after.
#pragma once

#include "ScopedKernelSetting.h"

#include "../../compiler/src/jit/kernels/ParallelItems.h"

namespace chainjit::testing {

using ScopedSplitMode = ScopedKernelSetting<compiler::jit::kernels::splitModeSetting,
                                            compiler::jit::kernels::setSplitMode>;

} // namespace chainjit::testing
