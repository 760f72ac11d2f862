#pragma once
// Mining each training image's nearest neighbours for the stages that use them (the neighbour
// stage, the end-to-end clustering stage, reliable self-labelling), in raw pixels or in the
// current network's backbone features. The session keeps the latest graph of each space, so
// that consecutive stages on the same network and space mine once.

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "dcacn/cluster/neighbours.h"
#include "dcacn/train/stage.h"

namespace dcacn {

/// Where the neighbours are mined. kBoth: the pixels (centred) and the features side by side,
/// each scaled to unit length, so that the similarity is the mean of the two cosine
/// similarities; on Fashion-MNIST its 20-NN purity was above both spaces' (0.816 against 0.811
/// for pixels and 0.736 for the features of a 400-step contrastive network; 0.821 against 0.811
/// and 0.775 after scan).
///
/// kAuto (the neighbour stage only): each of the three is tried and the one whose clusters the
/// other spaces' neighbours support best is kept (train/neighbour_stage.h).
enum class NeighbourSpace { kPixels, kFeatures, kBoth, kAuto };

/// "pixels", "features", "both" or "auto"; InputError naming `option` and the value otherwise.
NeighbourSpace parse_neighbour_space(const std::string& text, const std::string& option);
std::string neighbour_space_name(NeighbourSpace space);

/// The images as rows of floats for mining neighbours in pixel space: [N, C*H*W] on `device`,
/// area-averaged down to at most 32 x 32 pixels first.
torch::Tensor pixel_space(const torch::Tensor& images, torch::Device device);

/// The rows the kPixels space mines in: pixel_space's rows centred and projected on their first
/// 128 principal components, whitened when `whiten` (cluster/neighbours.h).
torch::Tensor pixel_rows(const torch::Tensor& images, bool whiten, torch::Device device);

/// The rows mined in the kBoth space: [N, P + D] on `device`, the centred pixel rows (on their
/// first 128 principal components when there are more pixels) and the `features` [N, D] rows,
/// each whitened when `whiten` (cluster/neighbours.h: whitened_components) and scaled to unit
/// length, side by side and divided by sqrt(2).
torch::Tensor combined_space(const torch::Tensor& images, const torch::Tensor& features,
                             torch::Device device, bool whiten = true);

/// [N, k] int64 (CPU): the k nearest neighbours of every training image in `space` (cosine
/// similarity; pixels centred and on their first 128 principal components; with `whiten`, each
/// space's rows whitened first), under the network as it stands. Mined once per space, k,
/// whitening and network state; `who` names the stage in the progress line.
torch::Tensor mine_neighbours(StageContext& context, NeighbourSpace space, int64_t k, bool whiten,
                              const std::string& who);

/// What mine_neighbours computes, without a stage or its cache: the k nearest neighbours of
/// `images` ([N, C, H, W] uint8) in `space` (`features` [N, D] for the feature spaces), [N, k]
/// int64 on the CPU. For benchmarks of the stage's parts.
/// The similarities are computed the faster of two ways, measured on the first two chunks
/// (NeighbourOptions::Products::kFastest, unless `products` says otherwise); `search` says
/// which.
torch::Tensor mine_neighbours_of(
    const torch::Tensor& images, const torch::Tensor& features, NeighbourSpace space, int64_t k,
    bool whiten, torch::Device device, const NeighbourProgress& progress = nullptr,
    NeighbourSearch* search = nullptr,
    NeighbourOptions::Products products = NeighbourOptions::Products::kFastest);

/// Whether mine_neighbours(context, space, k, ...) would now hand back a graph mined before.
bool neighbours_mined(StageContext& context, NeighbourSpace space, int64_t k, bool whiten);

/// The seconds mining the graph takes when it is not cached: the pixel rows' preparation timed
/// on a slice and one chunk of the similarity search timed on random rows of the space's width,
/// scaled to all images. For a run's time budget (train/session.h).
double mining_seconds(StageContext& context, NeighbourSpace space, int64_t k);

/// How well `clusters` ([N] int64) fit the neighbour `graph` ([N, k]): the share of neighbours in
/// their image's cluster above what clusters of these sizes would give neighbours drawn at
/// random (sum_k (n_k / N)^2): one cluster for all fits every graph perfectly and scores 0.
double neighbour_fit(const torch::Tensor& clusters, const torch::Tensor& graph);

/// [N] float: the share of each image's neighbours ([N, k]) that `clusters` ([N] int64) puts in
/// the image's own cluster.
torch::Tensor neighbour_agreement(const torch::Tensor& clusters, const torch::Tensor& neighbours);

}  // namespace dcacn
