#pragma once
// The neighbour stage: SCAN's clustering step on the trained network's frozen features. Each
// image and its mined nearest neighbours (cluster/neighbours.h; in pixel space or in feature
// space) should fall in the same cluster: cluster heads are trained from scratch on the frozen
// features with
//
//   loss = -mean_i log <p_i, p_j>  +  w * sum_k m_k log m_k,   m = mean_i p_i,
//
// for a random neighbour j of each anchor i (the second term, minus the entropy of the mean
// assignment, keeps every cluster in use). Several heads start from different draws; the one
// kept is, by default, the consensus: the head whose clusters agree most with the other heads'
// (mean adjusted Rand index), so that one head settled in an odd optimum is not kept because its
// loss came out lowest. keep=loss keeps the lowest-loss head over all images and all their
// neighbours (SCAN's choice). No label is used.

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dcacn/model/heads.h"

namespace dcacn {

/// Which of the trained heads is kept.
enum class HeadChoice {
  /// The head whose clusters agree most with the other heads' (mean ARI; ties: lower loss).
  kConsensus,
  /// The lowest loss over all images and all their neighbours (SCAN's rule).
  kLowestLoss,
};

/// "consensus" or "loss"; InputError naming `option` and the value otherwise.
HeadChoice parse_head_choice(const std::string& text, const std::string& option);
std::string head_choice_name(HeadChoice choice);

struct NeighbourHeadOptions {
  /// Heads trained from different initialisations; `keep` says which one is kept.
  TORCH_ARG(int64_t, heads) = 8;
  TORCH_ARG(HeadChoice, keep) = HeadChoice::kConsensus;
  /// Passes over all anchors.
  TORCH_ARG(int64_t, epochs) = 20;
  TORCH_ARG(int64_t, batch_size) = 512;
  /// Adam's learning rate.
  TORCH_ARG(double, lr) = 1e-3;
  /// w above.
  TORCH_ARG(double, entropy_weight) = 5.0;
  /// Seed of the heads' initialisation, the anchors' order and the neighbours drawn.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Stop before `epochs` once `patience` passes in a row have not lowered the heads' mean
  /// consistency (over the pass's steps) by `tolerance`, relative; 0: every pass.
  TORCH_ARG(int64_t, patience) = 0;
  TORCH_ARG(double, tolerance) = 0.01;
  /// All heads in one batched product (true), or one head after the other (the reference path:
  /// the same heads and updates, computed head by head).
  TORCH_ARG(bool, batched) = true;
  /// The batched heads' matrix products in bfloat16 (weights, Adam and the softmax stay float32):
  /// on a CPU with native bf16 products (avx512_bf16, AMX) they are several times faster; the
  /// stage sets it where the run's own precision measurement chose bf16 (train/precision.h).
  /// Ignored by the one-head-at-a-time path.
  TORCH_ARG(bool, bf16) = false;
};

struct NeighbourLoss {
  torch::Tensor total;
  /// -mean log <p_i, p_j>.
  torch::Tensor consistency;
  /// Entropy of the mean assignment (the term enters the total as -w * entropy).
  torch::Tensor entropy;
};

/// The loss above for anchors' and neighbours' probabilities ([B, K] each, row i of one paired
/// with row i of the other).
NeighbourLoss neighbour_loss(const torch::Tensor& anchors, const torch::Tensor& neighbours,
                             double entropy_weight);

struct NeighbourHeadResult {
  /// The kept head (on the features' device, in eval mode).
  ClusterHead head{nullptr};
  int64_t chosen = 0;
  /// Per head, over all images and all their neighbours: the consistency term, the entropy of
  /// the mean assignment, and the total loss that chose the head.
  std::vector<double> consistency, entropy, total;
  /// Per head: the mean adjusted Rand index of its clusters with every other head's (1 with one
  /// head), and the head the lowest loss would have kept.
  std::vector<double> agreement;
  int64_t lowest_loss = 0;
  /// Passes run (options.epochs unless the stopping rule or the caller ended it sooner), and the
  /// heads' mean training consistency over each.
  int64_t epochs = 0;
  /// Whether the caller's progress function ended the training (its time budget).
  bool ended_by_caller = false;
  std::vector<double> epoch_consistency;
};

/// Per clustering ([N] cluster of each row, one per head), the mean adjusted Rand index with
/// every other one (1 for a single clustering).
std::vector<double> head_agreement(const std::vector<std::vector<int64_t>>& clusters);

/// Called after each epoch (of all heads together) with (epochs done, epochs in all); false ends
/// the training there (a caller's time budget).
using NeighbourHeadProgress = std::function<bool(int64_t, int64_t)>;

/// Trains options.heads cluster heads of shape `head` on `features` ([N, D], frozen) so that
/// each row agrees with its `neighbours` ([N, k] int64 row indices), and returns the one
/// options.keep chooses.
NeighbourHeadResult train_neighbour_heads(const torch::Tensor& features,
                                          const torch::Tensor& neighbours,
                                          const ClusterHeadOptions& head,
                                          const NeighbourHeadOptions& options,
                                          const NeighbourHeadProgress& progress = nullptr);

/// The seconds train_neighbour_heads is expected to take on `n` rows with `k` neighbours each on
/// `device`: its own code timed on random rows of a few batches (after one untimed pass), scaled
/// to n rows. For a run's time budget (train/session.h).
double neighbour_heads_seconds(const ClusterHeadOptions& head, const NeighbourHeadOptions& options,
                               int64_t n, int64_t k, torch::Device device);

}  // namespace dcacn
