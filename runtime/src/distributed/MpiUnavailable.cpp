// mpiWorld() of a build without MPI (CMake compiles this file instead of
// MpiCommunicator.cpp when it did not find MPI).
#include "chainjit/runtime/distributed/Mpi.h"

#include "chainjit/ir/Error.h"

namespace chainjit::runtime::distributed {

bool mpiBuiltIn() { return false; }

std::shared_ptr<Communicator> mpiWorld() {
  throw Error("this chainjit was built without MPI: install Open MPI (libopenmpi-dev, "
              "openmpi-bin; tools/bootstrap.sh does) and configure again");
}

} // namespace chainjit::runtime::distributed
