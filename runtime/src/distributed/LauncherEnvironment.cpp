// Whether an MPI launcher started this process, read from the environment
// it sets, so that the CLI can tell before initializing MPI.
#include "chainjit/runtime/distributed/Mpi.h"

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace chainjit::runtime::distributed {

std::optional<int> launcherWorldSize() {
  // Open MPI's mpirun, then MPICH's Hydra and Slurm's PMI.
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char *v = std::getenv(name);
    if (!v)
      continue;
    int n = 0;
    auto [end, ec] = std::from_chars(v, v + std::strlen(v), n);
    if (ec == std::errc() && *end == '\0' && n >= 1)
      return n;
  }
  return std::nullopt;
}

} // namespace chainjit::runtime::distributed
