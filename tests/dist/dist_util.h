#pragma once
// Runs the ranks of a distributed test as threads of the test process, each with its own
// Communicator (Gloo over loopback, a TCPStore on a free port).

#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "dcacn/dist/communicator.h"
#include "dcacn/dist/launcher.h"

namespace dcacn::test {

/// The environment of `rank` of `world` ranks on this machine at `port`.
inline DistEnv local_env(int rank, int world, int port) {
  DistEnv env;
  env.rank = rank;
  env.world_size = world;
  env.local_rank = rank;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  return env;
}

/// Calls body(env) on `world` threads at once; rethrows the first rank's exception.
inline void run_rank_threads(int world, const std::function<void(const DistEnv&)>& body) {
  const int port = free_port();
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        body(local_env(r, world, port));
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

/// run_rank_threads with a Communicator per rank (30 s timeout).
inline void run_ranks(int world, const std::function<void(Communicator&)>& body) {
  run_rank_threads(world, [&](const DistEnv& env) {
    CommunicatorOptions options;
    options.timeout = std::chrono::seconds(30);
    Communicator comm(env, torch::kCPU, options);
    body(comm);
  });
}

}  // namespace dcacn::test
