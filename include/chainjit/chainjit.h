// The umbrella header for embedders: every public header of chainjit.
//
//   #include <chainjit/chainjit.h>
//   find_package(chainjit CONFIG REQUIRED)  +  target_link_libraries(app PRIVATE chainjit::chainjit)
//
// Public headers need only the C++ standard library: fmt, Boost, nlohmann
// json and LLVM stay inside the shared libraries. (The consumer test checks
// both that and that this list is complete: add each new public header here.)
#pragma once

// ir: the graph, its text form and other renderings, the builder API.
#include "chainjit/ir/AllocLimit.h"
#include "chainjit/ir/Attr.h"
#include "chainjit/ir/Builder.h"
#include "chainjit/ir/CounterRng.h"
#include "chainjit/ir/CsrStructure.h"
#include "chainjit/ir/Derivatives.h"
#include "chainjit/ir/Dot.h"
#include "chainjit/ir/ElementSemantics.h"
#include "chainjit/ir/Function.h"
#include "chainjit/ir/Error.h"
#include "chainjit/ir/Graph.h"
#include "chainjit/ir/IndexBounds.h"
#include "chainjit/ir/Json.h"
#include "chainjit/ir/Op.h"
#include "chainjit/ir/Parser.h"
#include "chainjit/ir/Printer.h"
#include "chainjit/ir/Rebuild.h"
#include "chainjit/ir/Scan.h"
#include "chainjit/ir/Suggest.h"
#include "chainjit/ir/Sweeps.h"
#include "chainjit/ir/Tensor.h"
#include "chainjit/ir/Types.h"
#include "chainjit/ir/Verifier.h"

// nn: layers over the builder (LSTM, GRU, attention, graph convolutions).
#include "chainjit/nn/Attention.h"
#include "chainjit/nn/Embedding.h"
#include "chainjit/nn/GraphLayers.h"
#include "chainjit/nn/Linear.h"
#include "chainjit/nn/Params.h"
#include "chainjit/nn/Recurrent.h"

// compiler: passes over graphs, derivatives, Jacobian chains and their bracketing.
#include "chainjit/compiler/Aot.h"
#include "chainjit/compiler/Autodiff.h"
#include "chainjit/compiler/ChainExtraction.h"
#include "chainjit/compiler/ChainPlanner.h"
#include "chainjit/compiler/CostReport.h"
#include "chainjit/compiler/JacobianByPlan.h"
#include "chainjit/compiler/JacobianChain.h"
#include "chainjit/compiler/Jit.h"
#include "chainjit/compiler/JitEngine.h"
#include "chainjit/compiler/MemorySweep.h"
#include "chainjit/compiler/Passes.h"
#include "chainjit/compiler/Recomputation.h"
#include "chainjit/compiler/RecomputedGradient.h"
#include "chainjit/compiler/TimeChains.h"

// frontends: models from other formats (ONNX, docs/onnx.md).
#include "chainjit/frontends/Onnx.h"

// runtime: evaluation, tensor files, datasets and checkpoints.
#include "chainjit/runtime/AtomicFile.h"
#include "chainjit/runtime/Checkpoint.h"
#include "chainjit/runtime/CsvChunks.h"
#include "chainjit/runtime/Dataset.h"
#include "chainjit/runtime/Executable.h"
#include "chainjit/runtime/Interpreter.h"
#include "chainjit/runtime/Npz.h"
#include "chainjit/runtime/RowChunks.h"
#include "chainjit/runtime/RowReader.h"
#include "chainjit/runtime/SequenceSampling.h"
#include "chainjit/runtime/TensorIO.h"
#include "chainjit/runtime/Vocabulary.h"
#include "chainjit/runtime/Weights.h"
#include "chainjit/runtime/distributed/BucketedReduction.h"
#include "chainjit/runtime/distributed/Communicator.h"
#include "chainjit/runtime/distributed/Mpi.h"
#include "chainjit/runtime/distributed/Shard.h"
#include "chainjit/runtime/train/CrossValidation.h"
#include "chainjit/runtime/train/Curves.h"
#include "chainjit/runtime/train/GraphObjective.h"
#include "chainjit/runtime/train/LineSearch.h"
#include "chainjit/runtime/train/ModelGraphs.h"
#include "chainjit/runtime/train/Newton.h"
#include "chainjit/runtime/train/Objective.h"
#include "chainjit/runtime/train/Optimizers.h"
#include "chainjit/runtime/train/ParamSet.h"
#include "chainjit/runtime/train/Progress.h"
#include "chainjit/runtime/train/Regularization.h"
#include "chainjit/runtime/train/Sampling.h"
#include "chainjit/runtime/train/StepSize.h"
#include "chainjit/runtime/train/TrainData.h"
#include "chainjit/runtime/train/Trainer.h"
