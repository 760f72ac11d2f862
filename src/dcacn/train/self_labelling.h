#pragma once
// The self-labelling stage (a second phase after the contrastive one, after TCL's "boosting"
// and SCAN's self-labelling step): the network labels the un-augmented images itself, keeps
// per cluster only its most confident ones, and learns to give those labels to strongly
// augmented views of the same images, with a class-balanced cross-entropy. The instance loss
// goes on, with images that share a pseudo-label removed from each other's negatives.
//
// Guards against the known failure modes: per-cluster quotas (a cluster that holds most of the
// confident images cannot take over the batch), class balancing (each pseudo-class weighs the
// same), and PseudoLabelStats, logged with every metrics row (share of images labelled, balance
// between clusters and, when the data has labels, their accuracy).

#include <torch/arg.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "dcacn/train/losses.h"

namespace dcacn {

struct SelfLabelOptions {
  /// Smallest cluster probability of a pseudo-labelled image.
  TORCH_ARG(double, threshold) = 0.9;
  /// At most ceil(quota * B / K) images of a batch of B per cluster (its most confident ones).
  TORCH_ARG(double, quota) = 0.5;
  TORCH_ARG(double, ce_weight) = 1.0;
  TORCH_ARG(double, instance_weight) = 1.0;
  /// Weight of the entropy regulariser of the global views (0: none).
  TORCH_ARG(double, entropy_weight) = 1.0;
};

/// Pseudo-labels of a batch from its cluster probabilities [B, K]: per cluster, among the images
/// whose most probable cluster it is with probability >= threshold, the ceil(quota * B / K) most
/// confident. [B] int64: the cluster, or -1 for images left unlabelled.
torch::Tensor select_pseudo_labels(const torch::Tensor& probabilities, double threshold,
                                   double quota);

/// Class-balanced cross-entropy of probabilities [M, K] against labels [M] (-1: ignored): the
/// mean over the pseudo-classes present of each class's mean -log p. 0 (with a graph) when no
/// label is set.
torch::Tensor balanced_cross_entropy(const torch::Tensor& probabilities,
                                     const torch::Tensor& labels);

/// [M, M] bool: images i != j that carry the same pseudo-label (both labelled): the negatives
/// the instance loss leaves out in this stage.
torch::Tensor same_label_pairs(const torch::Tensor& labels);

/// The stage's loss over multi-crop views (globals first, pairs as multicrop_loss forms them):
/// instance contrast without same-label negatives, plus the balanced cross-entropy of the global
/// views' probabilities against `labels`, plus the entropy regulariser of the global views with
/// options.entropy_weight (it keeps every cluster alive). LossTerms.cluster holds the
/// cross-entropy, LossTerms.entropy the regulariser (unweighted).
LossTerms self_label_loss(const std::vector<torch::Tensor>& embeddings,
                          const std::vector<torch::Tensor>& probabilities, int64_t num_global,
                          const torch::Tensor& labels, const LossOptions& losses,
                          const SelfLabelOptions& options);

/// Pseudo-label counts between two metrics rows; part of the training state (a checkpoint keeps
/// them as a tensor).
class PseudoLabelStats {
 public:
  /// `clusters` K; `classes` C of the data's labels (0: unlabelled data).
  PseudoLabelStats(int64_t clusters, int64_t classes);

  /// One batch: its pseudo-labels [B] and, when the data has labels, their true labels [B].
  void add(const torch::Tensor& pseudo, const torch::Tensor& truth);
  void reset();

  int64_t seen() const { return seen_; }
  /// Share of the images seen that got a pseudo-label.
  double labelled_fraction() const;
  /// Fewest / most pseudo-labels of a cluster (0 when a cluster got none).
  double balance() const;
  /// Accuracy of the pseudo-labels under the best one-to-one cluster-to-class match; -1 when
  /// the data has no labels or nothing was labelled.
  double accuracy() const;
  /// "labelled 31.2%, balance 0.45, pseudo-label ACC 0.912".
  std::string summary() const;

  /// int64 [K + 1, C + 1]: row k < K holds cluster k's pseudo-labelled images per true class
  /// (columns 0..C-1) and in all (column C); row K holds the images seen (column 0).
  torch::Tensor to_tensor() const;
  void load(const torch::Tensor& counts, const std::string& source);

 private:
  int64_t clusters_, classes_;
  int64_t seen_ = 0;
  std::vector<int64_t> per_cluster_;
  std::vector<int64_t> confusion_;  // [K, C] row-major
};

}  // namespace dcacn
