#pragma once
// One optimisation step of DCACN: the views of a batch through the network (views of one
// size together), the decoupled losses over the multi-crop pairs, backward and Adam.
// A second training stage or a distributed step reuses the two halves separately.

#include <torch/optim/optimizer.h>

#include <vector>

#include "dcacn/dist/communicator.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/train/losses.h"
#include "dcacn/train/self_labelling.h"

namespace dcacn {

struct TrainStepOptions {
  int64_t batch_size = 0;    ///< images per view
  int64_t global_views = 2;  ///< the first views, contrasted with every other
  LossOptions losses;
  bool bf16 = false;
  bool channels_last = false;
  /// Data-parallel: this rank's batch_size images are one shard of the global batch. The
  /// embeddings and probabilities of every view are gathered (with their gradient) so that the
  /// losses see the global batch, and gradients are averaged over the ranks.
  Communicator* comm = nullptr;
};

class TrainStep {
 public:
  TrainStep(DCACN model, torch::optim::Optimizer& optimizer, TrainStepOptions options);

  /// The losses of one batch's views ([B, C, s, s] each, globals first), with the graph.
  LossTerms losses(const std::vector<torch::Tensor>& views);
  /// The self-labelling stage's losses of the same views against pseudo-labels [B] (the global
  /// batch's, when data-parallel).
  LossTerms self_label_losses(const std::vector<torch::Tensor>& views, const torch::Tensor& labels,
                              const SelfLabelOptions& options);
  /// The end-to-end clustering stage's loss (train/scan_stage.h): anchors' and their
  /// neighbours' views ([B, C, s, s] each, one forward), SCAN's consistency and entropy terms
  /// over the global batch. LossTerms.cluster holds the consistency, .entropy the entropy of the
  /// mean assignment, .instance 0.
  LossTerms neighbour_losses(const torch::Tensor& anchors, const torch::Tensor& neighbours,
                             double entropy_weight);
  /// Cluster probabilities [B, K] of un-augmented images [B, C, s, s] for pseudo-labelling:
  /// the network in evaluation mode (as evaluate() sees it), without a graph.
  torch::Tensor predict(const torch::Tensor& images);
  /// Backward through `losses.total`, leaving the gradients (averaged over the ranks when
  /// data-parallel) in the parameters.
  void backward(const LossTerms& losses);
  /// backward() and one optimizer step at learning rate `lr`.
  void apply(const LossTerms& losses, double lr);

 private:
  struct ViewOutputs {
    std::vector<torch::Tensor> embeddings, probabilities;
  };
  ViewOutputs forward_views(const std::vector<torch::Tensor>& views);
  /// Data-parallel: every view's outputs over the global batch.
  void gather(ViewOutputs& outputs);

  DCACN model_;
  torch::optim::Optimizer& optimizer_;
  TrainStepOptions options_;
};

/// Sets the learning rate of every parameter group of an Adam optimizer.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace dcacn
