// dcacn augment-preview: a PNG grid of the views the network is fed.

#include <iostream>

#include "commands.h"
#include "common.h"
#include "dcacn/augment/multicrop.h"
#include "dcacn/augment/transforms.h"
#include "dcacn/data/registry.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/run/setup.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn::cli {
namespace {

struct AugmentPreviewParams {
  DatasetSpec dataset;
  std::string split = "all";
  std::string views;   // e.g. 2x28@0.2-1,2x14@0.05-0.5; empty: the dataset's defaults
  std::string preset;  // the views (and dataset) a preset trains on
  std::string run;     // the views (and dataset) of a run directory's config.json
  CLI::Option* dataset_option = nullptr;
  int64_t n = 8;      // images (rows)
  int64_t cell = 96;  // tile side in the PNG
  uint64_t seed = 0;
  std::string out;  // PNG path
  RuntimeOptions runtime;
};

int run_augment_preview(AugmentPreviewParams& p) {
  apply_runtime_options(p.runtime);
  p.dataset.split = parse_split(p.split);
  DCACN_CHECK(p.n >= 1 && p.n <= 256, "--n must be in 1..256, got ", p.n);
  DCACN_CHECK(p.cell >= 8 && p.cell <= 512, "--cell must be in 8..512, got ", p.cell);
  DCACN_CHECK(p.preset.empty() || p.run.empty(), "give --preset or --run, not both");
  MultiCropSpec spec;
  if (!p.preset.empty() || !p.run.empty()) {
    const TrainConfig config = p.run.empty() ? preset(p.preset) : read_run_config(p.run);
    if (p.dataset_option->count() == 0) p.dataset = dataset_spec(config);
    spec = view_spec(config);
  } else {
    spec =
        parse_views(dataset_info(p.dataset.name, p.dataset.folder).default_views, MultiCropSpec());
  }
  if (!p.views.empty()) spec = parse_views(p.views, spec);
  const Dataset data = load_dataset(p.dataset);
  DCACN_CHECK(data.size() >= p.n, "--n ", p.n, " is more than the ", data.size(), " images of ",
              data.name);
  // Images spread evenly over the dataset, so that several classes show.
  const torch::Tensor index = torch::linspace(0, data.size() - 1, p.n).round().to(torch::kInt64);
  const torch::Tensor images = data.images.index_select(0, index);
  MultiCropAugmenter augment(spec, p.seed);
  std::vector<torch::Tensor> columns = {images.to(torch::kFloat32) / 255.0f};
  for (auto& v : augment(images)) columns.push_back(v);
  write_png(p.out, make_grid(columns, p.cell));
  log_info(c10::str("wrote ", p.out, ": ", p.n, " images (rows) x original + ", spec.describe(),
                    " (columns)"));
  return 0;
}

}  // namespace

CommandRunner register_augment_preview(CLI::App& app) {
  auto params = std::make_shared<AugmentPreviewParams>();
  CLI::App* cmd = app.add_subcommand(
      "augment-preview",
      "PNG grid of the multi-crop views: one row per image, one column per view");
  add_dataset_options(cmd, &params->dataset, &params->split);
  params->dataset_option = cmd->get_option("--dataset");
  cmd->add_option("--views", params->views,
                  "COUNTxSIZE[@MIN-MAX][:key=value] groups, global first, e.g. "
                  "2x32@0.2-1,4x16@0.05-0.5:blur=0.8 (keys: jitter, brightness, contrast, "
                  "jitter_p, flip, gray, blur, solarize, sigma, kernel, ratio, affine, rotate, "
                  "shear, translate, zoom, erase, erase_scale; see README) "
                  "(default: the dataset's, or the preset's or run's)");
  cmd->add_option("--preset", params->preset,
                  "show the views this preset trains on (and its dataset)");
  cmd->add_option("--run", params->run, "show the views of this run directory (and its dataset)");
  cmd->add_option("--n", params->n, "images to show")->capture_default_str();
  cmd->add_option("--cell", params->cell, "tile side in the PNG, pixels")->capture_default_str();
  cmd->add_option("--seed", params->seed, "random seed")->capture_default_str();
  cmd->add_option("--out", params->out, "PNG file to write")->required();
  add_runtime_options(cmd, &params->runtime);
  return [params] { return run_augment_preview(*params); };
}

}  // namespace dcacn::cli
