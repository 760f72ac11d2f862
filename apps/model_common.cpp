#include "model_common.h"

#include <filesystem>

#include "dcacn/data/image_folder.h"
#include "dcacn/run/setup.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn::cli {

void add_model_options(CLI::App* command, ModelChoice* choice) {
  command
      ->add_option("--checkpoint", choice->checkpoint,
                   "a run directory (uses its checkpoints/last.pt, see --which) or a "
                   "checkpoint file")
      ->required();
  command
      ->add_option("--which", choice->which,
                   "for a run directory: last | best (the ACC-chosen checkpoint of runs of earlier "
                   "versions)")
      ->capture_default_str();
  command->add_option("--device", choice->device, "auto | cpu | cuda")->capture_default_str();
  command
      ->add_option("--batch-size", choice->batch_size,
                   "images per forward pass (0: the run's evaluation batch size)")
      ->capture_default_str();
}

TrainedModel load_model(const ModelChoice& choice) {
  TrainedModel model = load_trained_model(choice.checkpoint, choice.device, choice.which);
  log_info(c10::str("model: ", model.checkpoint, " (epoch ", model.epoch, ", step ", model.step,
                    ", K = ", model.clusters(), ", input ", model.in_channels, "x",
                    model.image_size, "x", model.image_size, ")"));
  return model;
}

InferenceOptions inference_options(const TrainedModel& model, const ModelChoice& choice) {
  InferenceOptions o = model.inference_options();
  if (choice.batch_size > 0) o.batch_size = choice.batch_size;
  return o;
}

void add_data_options(CLI::App* command, DataChoice* choice) {
  const std::string run = " (default: the run's)";
  command->add_option("--dataset", choice->dataset,
                      "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder" + run);
  command->add_option("--data", choice->data, "dataset folder" + run);
  command->add_option("--split", choice->split, "train | test | all | unlabeled" + run);
  command->add_option("--image-size", choice->image_size, "image folders: decoded size" + run);
}

Dataset load_data_for_model(const TrainedModel& model, const DataChoice& choice) {
  Dataset data = load_dataset_for(model, choice);
  log_info(c10::str("data: ", data.name, ", ", with_thousands(data.size()), " images"));
  return data;
}

ImageSet read_images_for_model(const TrainedModel& model, const std::vector<std::string>& inputs) {
  DCACN_CHECK(!inputs.empty(), "give at least one image file or folder with --images");
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    if (is_directory(input)) {
      const auto found = list_image_files(input);
      if (found.empty()) log_warning(c10::str("no image files under ", input));
      files.insert(files.end(), found.begin(), found.end());
    } else {
      DCACN_CHECK(is_file(input), "image or folder ", input, " not found");
      files.push_back(input);
    }
  }
  DCACN_CHECK(!files.empty(), "no image files found in the --images given");
  ImageFolderOptions o;
  // A folder-trained model sees images decoded at the folder's size (then the evaluation
  // transform), as in training; others take new images straight at the network's input size.
  o.image_size =
      model.config.dataset == "folder" ? dataset_info(model.config).image_size : model.image_size;
  o.squash = model.config.folder_squash;
  o.channels = model.in_channels;
  ImageSet set;
  std::vector<int64_t> kept;
  set.images = decode_images(files, o, &kept, &set.failed);
  for (int64_t i : kept) set.paths.push_back(files[i]);
  if (!set.failed.empty()) {
    const size_t shown = std::min<size_t>(set.failed.size(), 20);
    for (size_t i = 0; i < shown; ++i) log_warning("skipped " + set.failed[i]);
    if (shown < set.failed.size()) {
      log_warning(c10::str("... and ", set.failed.size() - shown, " more unreadable images"));
    }
  }
  DCACN_CHECK(!set.paths.empty(), "none of the ", files.size(), " image files could be read");
  log_info(
      c10::str("read ", with_thousands(set.paths.size()), " images",
               set.failed.empty() ? "" : c10::str(", skipped ", set.failed.size(), " unreadable")));
  return set;
}

}  // namespace dcacn::cli
