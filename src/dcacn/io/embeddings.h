#pragma once
// What `dcacn embed` writes: per-image outputs of a trained model.
//
// .pt: a pickled dict (torch::pickle_save) that Python's torch.load reads:
//   "format": "dcacn-embeddings-1", "checkpoint": str,
//   "features" [N, D], "embeddings" [N, d], "probabilities" [N, K] (float32),
//   "clusters" [N] (int64, argmax of the probabilities),
//   "labels" [N] (int64, when known), "paths": [str] (for image files), "class_names": [str].
// .csv: one row per image: index, path, label (when known), cluster, then p_0.., e_0.., f_0..

#include <torch/types.h>

#include <string>
#include <vector>

namespace dcacn {

struct Embeddings {
  std::string checkpoint;
  torch::Tensor features, embeddings, probabilities, clusters, labels;
  std::vector<std::string> paths, class_names;
};

void write_embeddings_pt(const std::string& path, const Embeddings& e);
void write_embeddings_csv(const std::string& path, const Embeddings& e);
/// Reads a file written by write_embeddings_pt; InputError naming the file otherwise.
Embeddings read_embeddings_pt(const std::string& path);

}  // namespace dcacn
