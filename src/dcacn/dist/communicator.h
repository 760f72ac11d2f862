#pragma once
// Data-parallel communication on PyTorch's own distributed engine (c10d): the launch contract of
// torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), a TCPStore rendezvous, and
// the collectives training needs (bucketed gradient all-reduce, broadcast, all-gather, and an
// all-gather with a gradient). Gloo for CPU tensors; NCCL for CUDA tensors where the LibTorch in
// use has it. The c10d headers stay in the source file.

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace dcacn {

/// A process's place in a distributed run, as torchrun describes it in the environment.
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool distributed() const { return world_size > 1; }
};

/// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. With none of them set: one
/// process. Throws InputError naming a variable that is malformed, out of range or missing.
DistEnv dist_env_from_environment();

/// Whether this build has each backend (Gloo: LibTorch's c10d with Gloo headers at build time;
/// NCCL: a CUDA LibTorch built with it, and -DDCACN_NCCL=ON).
bool have_gloo();
bool have_nccl();

/// A collective that failed or timed out: another rank has died, hung or lost its connection.
class DistributedError : public std::runtime_error {
 public:
  explicit DistributedError(const std::string& message) : std::runtime_error(message) {}
};

struct CommunicatorOptions {
  /// How long a collective or the rendezvous may wait for the other ranks.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  /// "auto" (NCCL for a CUDA device, else Gloo), "gloo" or "nccl".
  std::string backend = "auto";
};

/// Bytes and time spent in collectives, for the benchmarks.
struct CommStats {
  int64_t calls = 0;
  int64_t bytes_all_reduced = 0;
  int64_t bytes_all_gathered = 0;  ///< this rank's contribution
  int64_t bytes_broadcast = 0;
  double seconds = 0;  ///< wall time inside collectives (waiting for slower ranks included)
};

class Communicator {
 public:
  /// Joins the run described by `env`: rank 0 serves a TCPStore at MASTER_ADDR:MASTER_PORT, the
  /// others connect to it; then the backend's own rendezvous. Throws InputError when the port is
  /// taken or nobody answers within the timeout.
  Communicator(const DistEnv& env, torch::Device device, CommunicatorOptions options = {});
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const;
  int size() const;
  const std::string& backend() const;

  /// Replaces each tensor by its mean over the ranks. Tensors of one dtype travel together in
  /// flat buckets of at most `bucket_bytes` (one all-reduce per bucket).
  void all_reduce_mean(const std::vector<torch::Tensor>& tensors,
                       int64_t bucket_bytes = int64_t{25} << 20);
  /// Sum over the ranks, in place.
  void all_reduce_sum(torch::Tensor& tensor);
  /// Overwrites each tensor with rank `root`'s.
  void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);
  /// [n, ...] on every rank (the same n) -> [size * n, ...], rank 0's rows first. No gradient.
  torch::Tensor all_gather(const torch::Tensor& tensor);
  /// Like all_gather, for row counts that differ between ranks.
  torch::Tensor all_gather_rows(const torch::Tensor& tensor);
  /// Throws InputError unless every rank passes the same `value` (rank 0's is the reference);
  /// `what` names it in the message.
  void check_same(const std::string& what, const std::string& value);
  void barrier();

  const CommStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The rows of a global batch `index` [B] that `rank` of `world` trains on: the rank-th of
/// `world` equal contiguous parts (B must divide), so that gathering the ranks' outputs in rank
/// order restores the global batch's order, whatever the world size.
torch::Tensor rank_shard(const torch::Tensor& index, int rank, int world);

/// all_gather with a gradient, for losses over the global batch: rows [n, ...] of every rank ->
/// [size * n, ...] in rank order. The backward sums, over the ranks, the gradient of the rows
/// this rank gave (an all-reduce) and returns them to it. With the same loss computed on every
/// rank and gradients then averaged over ranks, each parameter gets the gradient of that loss.
torch::Tensor all_gather_with_grad(const torch::Tensor& tensor, Communicator& comm);

}  // namespace dcacn
