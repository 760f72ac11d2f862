#pragma once
// Settings for a user's folder of images, derived from the images themselves (`dcacn
// cluster`): what a preset is for a known dataset. The folder is surveyed without decoding
// (file list, layout, and the headers of a spread sample of images), and a training
// configuration follows from what it holds: the input size from the images' sizes, the channels
// from their colour, the views from the input size, the batch from the image count, the pipeline
// and the time budget as fmnist-cpu's (train/pipeline.h), every value overridable by a `train`
// option.

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "dcacn/run/config.h"

namespace dcacn {

struct FolderSurvey {
  std::string root;
  int64_t images = 0;
  /// Labelled layout (root/<class>/<image>): its class count; 0 for a flat folder.
  int64_t classes = 0;
  /// Headers read (a spread sample of at most FolderSurveyOptions::sample files).
  int64_t sampled = 0;
  /// Of the sampled headers: width x height -> count; grey (1-2 channels) and colour (3-4)
  /// images; unreadable ones (the reader skips them with a warning).
  std::map<std::pair<int64_t, int64_t>, int64_t> sizes;
  int64_t grey = 0, colour = 0, unreadable = 0;
  /// Median of the sampled images' shorter sides.
  int64_t median_side = 0;

  /// "10,000 images, flat; 500 headers read: all 28x28, grey".
  std::string summary() const;
};

struct FolderSurveyOptions {
  /// Headers read at most, spread evenly over the sorted file list.
  int64_t sample = 500;
};

/// Surveys `root` (InputError: no folder, no image, mixed layout, no readable header).
FolderSurvey survey_image_folder(const std::string& root, const FolderSurveyOptions& options = {});

/// From this many minutes of budget, --k auto reads K with the heads' criterion
/// (train/heads_k_estimation.h), below it with the stability of k-means
/// (cluster/k_estimation.h). The heads need trained features: on 2 cores of an AMD EPYC, after
/// 10 minutes (925-992 training steps) they chose 5, 5, 13, 10 and 10 for Fashion-MNIST folders
/// of 3, 5, 7, 10 and 10 classes, where the stability criterion on the same networks' features
/// was exact on none or one; a second seed chose 7, 2, 13 and 10 for the folders of 3, 5, 7 and
/// 10 classes (exact on 6 of 11 runs over both seeds; stability on the seed-1 networks of 5 and
/// 10 classes: 7-13 and 10-15). After 5 minutes (150-430 steps) the heads were
/// exact on none of four folders in each of five runs, and stability on up to two of four
/// (bench/results/k_estimation.md). The heads cost 38-40 s there (bf16 products; 72-165 s in
/// float32), a sixteenth of 10 minutes.
constexpr double kHeadsCriterionMinutes = 10;

struct FolderPresetOptions {
  /// The run's time budget, every stage and the final scoring included.
  double minutes = 10;
  /// The number of clusters; 0: estimated in `k_range`.
  int64_t clusters = 0;
  std::string k_range = "2-30";
  /// Sized for a GPU (width 64, inputs up to 96 px) rather than for a CPU (width 16, up to 32).
  bool gpu = false;
};

/// The configuration for the surveyed folder; InputError when the folder cannot be clustered
/// as asked (too few images for the clusters or for the neighbour stage). `notes` receives one
/// line per adaptation (sizes resized, colour modes unified), for the log.
TrainConfig folder_preset(const FolderSurvey& survey, const FolderPresetOptions& options,
                          std::string* notes = nullptr);

/// Fewest images `dcacn cluster` takes: a batch of contrastive pairs and a neighbour graph.
constexpr int64_t kFolderMinimumImages = 32;

}  // namespace dcacn
