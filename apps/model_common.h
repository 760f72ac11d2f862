#pragma once
// Options and input handling shared by the commands that use a trained model (evaluate,
// predict, embed, report).

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dcacn/curate/curation.h"
#include "dcacn/data/dataset.h"
#include "dcacn/infer/inference.h"

namespace dcacn::cli {

/// --checkpoint RUN_DIR|FILE, --which last|best, --device, --batch-size.
struct ModelChoice {
  std::string checkpoint;
  std::string which = "last";
  std::string device = "auto";
  int64_t batch_size = 0;  ///< 0: the run's evaluation batch size
  bool ignore_curation = false;
};
void add_model_options(CLI::App* command, ModelChoice* choice);
TrainedModel load_model(const ModelChoice& choice);
InferenceOptions inference_options(const TrainedModel& model, const ModelChoice& choice);

/// --dataset, --data, --split, --image-size; each defaults to the run's own setting.
using DataChoice = DataOverrides;
void add_data_options(CLI::App* command, DataChoice* choice);
/// load_dataset_for with a log line.
Dataset load_data_for_model(const TrainedModel& model, const DataChoice& choice);

/// Image files given on the command line: files, and folders searched recursively.
struct ImageSet {
  torch::Tensor images;             ///< [M, C, S, S] uint8, the ones that decoded
  std::vector<std::string> paths;   ///< [M]
  std::vector<std::string> failed;  ///< "path: reason" for the others
};
/// Decodes (on all cores) to the model's channels and input size (a folder-trained model:
/// its folder's decoded size). Throws InputError when a path does not exist or no image at all
/// could be read; unreadable images are listed in `failed` and reported with warnings.
ImageSet read_images_for_model(const TrainedModel& model, const std::vector<std::string>& inputs);

/// A run's curated clusters (RUN/curation.json, edited with `dcacn serve`) for some images.
struct CuratedClusters {
  torch::Tensor clusters;          ///< [M] int64 curated cluster ids
  std::vector<std::string> names;  ///< by cluster id
};
/// When `choice` names a run directory that has a curation (and --ignore-curation is not
/// given): the curated clusters of images whose model probabilities are `probabilities` [M, K].
/// `run_images`: the rows are the run's own dataset in order, so each image gets its curated
/// cluster; otherwise the curation's base-cluster map applies (Curation::base_cluster_map).
std::optional<CuratedClusters> curated_clusters(const ModelChoice& choice,
                                                const torch::Tensor& probabilities,
                                                bool run_images);

/// The predictions CSV of `predict` and `cluster`: index, path, [label,] cluster (argmax), then
/// the confidence and the top-3 clusters with their probabilities. `labels` may be undefined.
/// With `curated`: the cluster column is the curated one, followed by its name; confidence and
/// top-3 stay the model's.
std::string prediction_table(const std::vector<std::string>& paths, const torch::Tensor& labels,
                             const torch::Tensor& probabilities,
                             const CuratedClusters* curated = nullptr);

/// A cluster name made safe as a folder name (letters, digits, - _ . and spaces; others "_").
std::string folder_name(const std::string& name);

/// Lays out DIR/cluster_NN/<file name> (links to `paths`, or copies) in a sibling temporary
/// folder and renames it into place, so DIR is either complete or absent. InputError when DIR
/// exists and is not empty. `folder_names` (by cluster id): DIR/NN_<name> instead. Without
/// paths, `images` ([M, C, H, W] uint8) are written as DIR/<folder>/<index>.png.
void group_into(const std::string& dir, const std::vector<std::string>& paths,
                const torch::Tensor& clusters, int64_t k, bool copy,
                const std::vector<std::string>& folder_names = {},
                const torch::Tensor& images = {});

}  // namespace dcacn::cli
