#pragma once
// A launcher of local ranks that needs no Python: what `torchrun --nproc-per-node=N
// --no-python PROGRAM ARGS` does on one machine. Each rank is PROGRAM ARGS with torchrun's
// variables set (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
// When a rank fails, the others are stopped (SIGTERM, then SIGKILL after a grace period), and
// Ctrl-C or SIGTERM given to the launcher is passed on to every rank.

#include <string>
#include <vector>

namespace dcacn {

struct LaunchOptions {
  int nproc = 1;
  std::string master_addr = "127.0.0.1";
  /// 0: a free port of this machine.
  int master_port = 0;
  /// Seconds between SIGTERM and SIGKILL for the ranks left when one has failed.
  double grace_seconds = 10;
};

/// A TCP port nobody listens on at the moment (bound, then released).
int free_port(const std::string& address = "127.0.0.1");

/// Runs `argv` (argv[0] the program; "/proc/self/exe" runs this one) as `nproc` ranks and waits
/// for them. Returns 0 when every rank exited with 0; otherwise the first failure's status
/// (128 + signal for a rank killed by a signal), after one line on stderr naming the rank.
int launch_local_ranks(const std::vector<std::string>& argv, const LaunchOptions& options);

}  // namespace dcacn
