#include "model_common.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>

#include "dcacn/data/image_folder.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/io/predictions.h"
#include "dcacn/run/setup.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn::cli {

namespace fs = std::filesystem;

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
  command->add_flag("--ignore-curation", choice->ignore_curation,
                    "use the model's own clusters even when RUN/curation.json exists");
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

// (see model_common.h) The common columns (index, path, cluster), then the confidence and the top-k
// clusters.
std::string prediction_table(const std::vector<std::string>& paths, const torch::Tensor& labels,
                             const torch::Tensor& probabilities, const CuratedClusters* curated) {
  const int64_t k = probabilities.size(1), top = std::min<int64_t>(3, k);
  const auto [values, ids] = probabilities.topk(top, 1);
  const auto v = values.accessor<float, 2>();
  const auto c = ids.accessor<int64_t, 2>();
  ExtraColumns extra;
  extra.names = {"confidence"};
  for (int64_t t = 1; t <= top; ++t) {
    extra.names.push_back(c10::str("top", t));
    extra.names.push_back(c10::str("top", t, "_probability"));
  }
  extra.row = [&](int64_t i, std::string& line) {
    char number[32];
    std::snprintf(number, sizeof(number), ",%.6f", v[i][0]);
    line += number;
    for (int64_t t = 0; t < top; ++t) {
      std::snprintf(number, sizeof(number), ",%.6f", v[i][t]);
      line += "," + std::to_string(c[i][t]) + number;
    }
  };
  if (curated == nullptr) return predictions_csv(ids.select(1, 0), labels, paths, extra);
  extra.names.insert(extra.names.begin(), "name");
  const auto named = extra.row;
  const auto cluster = curated->clusters.accessor<int64_t, 1>();
  extra.row = [&](int64_t i, std::string& line) {
    line += "," + csv_escape(curated->names.at(cluster[i]));
    named(i, line);
  };
  return predictions_csv(curated->clusters, labels, paths, extra);
}

std::string folder_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool plain =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ' ';
    out += plain ? c : '_';
  }
  while (!out.empty() && (out.front() == '.' || out.front() == ' ')) out.erase(out.begin());
  return out.empty() ? "_" : out.substr(0, 80);
}

std::optional<CuratedClusters> curated_clusters(const ModelChoice& choice,
                                                const torch::Tensor& probabilities,
                                                bool run_images) {
  if (choice.ignore_curation || !is_directory(choice.checkpoint)) return std::nullopt;
  bool found = false;
  const Curation c = load_curation_if_present(choice.checkpoint, &found);
  if (!found) return std::nullopt;
  const std::string file = choice.checkpoint + "/" + Curation::kFileName;
  DCACN_CHECK(c.base_clusters() == probabilities.size(1), file, " was made for a model with ",
              c.base_clusters(), " clusters; this checkpoint has ", probabilities.size(1),
              " (give --ignore-curation to use the model's own clusters)");
  CuratedClusters out;
  out.names = c.names();
  if (run_images && c.images() == probabilities.size(0)) {
    out.clusters = torch::tensor(c.assignment(), torch::kInt64);
    log_info(c10::str("applied ", file, " (", c.version(), " records) to the run's images"));
  } else {
    const torch::Tensor map = torch::tensor(c.base_cluster_map(), torch::kInt64);
    out.clusters = map.index_select(0, probabilities.argmax(1));
    log_info(c10::str("applied ", file, " (", c.version(),
                      " records) through its cluster map: merges and names carry over, a split "
                      "cluster's new images go to its largest part"));
  }
  return out;
}

// (see model_common.h) Lays out DIR/cluster_NN/<file name> (links, or copies with --copy) in a
// sibling temporary folder and renames it into place, so DIR is either complete or absent.
void group_into(const std::string& dir, const std::vector<std::string>& paths,
                const torch::Tensor& clusters, int64_t k, bool copy,
                const std::vector<std::string>& folder_names, const torch::Tensor& images) {
  TORCH_CHECK(!paths.empty() || images.defined(), "group_into: paths or images");
  DCACN_CHECK(!fs::exists(dir) || (fs::is_directory(dir) && fs::is_empty(dir)), "--group-into ",
              dir, " already exists and is not empty; choose a new folder");
  const fs::path target = fs::absolute(dir);
  const fs::path staging = target.string() + ".partial";
  fs::remove_all(staging);
  fs::create_directories(staging);
  const int width = static_cast<int>(std::to_string(std::max<int64_t>(k - 1, 1)).size());
  std::map<std::string, int> used;  // names already taken per folder
  const auto id = clusters.accessor<int64_t, 1>();
  try {
    const int64_t n_images = paths.empty() ? images.size(0) : static_cast<int64_t>(paths.size());
    const int index_width =
        static_cast<int>(std::to_string(std::max<int64_t>(n_images - 1, 1)).size());
    for (int64_t i = 0; i < n_images; ++i) {
      std::string sub = std::to_string(id[i]);
      sub = std::string(std::max<int>(0, width - static_cast<int>(sub.size())), '0') + sub;
      sub = folder_names.empty() ? "cluster_" + sub : sub + "_" + folder_names.at(id[i]);
      const fs::path folder = staging / sub;
      fs::create_directories(folder);
      if (paths.empty()) {
        std::string number = std::to_string(i);
        number = std::string(std::max<int>(0, index_width - static_cast<int>(number.size())), '0') +
                 number;
        write_png((folder / (number + ".png")).string(), images[i]);
        continue;
      }
      const fs::path source = fs::absolute(paths[i]);
      std::string name = source.filename().string();
      // Same file name from different folders: name~2.png, name~3.png, ...
      const int n = ++used[sub + "/" + name];
      if (n > 1) {
        name = source.stem().string() + "~" + std::to_string(n) + source.extension().string();
      }
      if (copy) {
        fs::copy_file(source, folder / name);
      } else {
        fs::create_symlink(source, folder / name);
      }
    }
    if (fs::exists(target)) fs::remove(target);  // the empty folder checked above
    fs::rename(staging, target);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(staging);
    throw InputError(c10::str("cannot lay out --group-into ", dir, ": ", e.what()));
  }
}

}  // namespace dcacn::cli
