// MPI's world communicator, where chainjit was built with MPI (CMake found
// it: CHAINJIT_MPI=AUTO or ON). Only runtime/src/distributed/MpiCommunicator.cpp
// includes mpi.h; without MPI, MpiUnavailable.cpp says so clearly.
#pragma once

#include "chainjit/runtime/distributed/Communicator.h"

#include <memory>
#include <optional>

namespace chainjit::runtime::distributed {

// Whether this build can use MPI.
bool mpiBuiltIn();

// MPI_COMM_WORLD. The first call initializes MPI (MPI_Init_thread, funneled:
// only the calling thread communicates) and registers MPI_Finalize to run
// at exit. Throws chainjit::Error in a build without MPI.
std::shared_ptr<Communicator> mpiWorld();

// The world size an MPI launcher announces in the environment
// (OMPI_COMM_WORLD_SIZE of Open MPI's mpirun, PMI_SIZE of MPICH/Slurm),
// read without initializing MPI; nullopt when the process was not started
// by one.
std::optional<int> launcherWorldSize();

} // namespace chainjit::runtime::distributed
