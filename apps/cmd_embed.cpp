// dcacn embed: backbone features, instance embeddings and cluster probabilities of a dataset
// or of image files, for use outside dcacn (see src/dcacn/io/embeddings.h for the layout).

#include "commands.h"
#include "common.h"
#include "dcacn/io/embeddings.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "model_common.h"

namespace dcacn::cli {
namespace {

struct EmbedParams {
  ModelChoice model;
  DataChoice data;
  std::vector<std::string> images;
  std::string out;
  std::string format;  // pt | csv; empty: from the file extension
  RuntimeOptions runtime;
};

int run_embed(EmbedParams& p) {
  apply_runtime_options(p.runtime);
  std::string format = p.format;
  if (format.empty()) {
    format = p.out.size() >= 4 && p.out.substr(p.out.size() - 4) == ".csv" ? "csv" : "pt";
  }
  DCACN_CHECK(format == "pt" || format == "csv", "--format must be pt or csv, got ", format);
  DCACN_CHECK(p.images.empty() || !p.data.given(), "give either --images or --dataset/--data");
  const TrainedModel model = load_model(p.model);
  Embeddings e;
  e.checkpoint = model.checkpoint;
  torch::Tensor images;
  if (!p.images.empty()) {
    ImageSet set = read_images_for_model(model, p.images);
    images = set.images;
    e.paths = set.paths;
  } else {
    Dataset data = load_data_for_model(model, p.data);
    images = data.images;
    e.labels = data.labels;
    e.paths = data.paths;
    e.class_names = data.class_names;
  }
  if (format == "csv" && images.size(0) > 100000) {
    log_warning("CSV output of more than 100,000 images is large; the .pt format is faster");
  }
  InferenceOptions o = inference_options(model, p.model);
  o.progress = p.runtime.quiet ? "" : "embedding";
  const ModelOutputs out = model.run(images, o);
  e.features = out.features;
  e.embeddings = out.embeddings;
  e.probabilities = out.probabilities;
  const bool run_images = p.images.empty() && !p.data.given() && p.data.split.empty();
  const auto curated = curated_clusters(p.model, out.probabilities, run_images);
  e.clusters = curated ? curated->clusters : out.probabilities.argmax(1);
  if (format == "pt") {
    write_embeddings_pt(p.out, e);
  } else {
    write_embeddings_csv(p.out, e);
  }
  log_info(c10::str("wrote ", p.out, ": ", e.clusters.size(0), " images, features ",
                    e.features.size(1), ", embeddings ", e.embeddings.size(1),
                    ", K = ", e.probabilities.size(1)));
  return 0;
}

}  // namespace

CommandRunner register_embed(CLI::App& app) {
  auto p = std::make_shared<EmbedParams>();
  CLI::App* cmd = app.add_subcommand(
      "embed", "write features, instance embeddings and cluster probabilities (.pt or .csv)");
  add_model_options(cmd, &p->model);
  add_data_options(cmd, &p->data);
  cmd->add_option("--images", p->images, "image files and folders instead of a dataset");
  cmd->add_option("--out", p->out, "file to write (.pt: torch.load-able dict; .csv)")->required();
  cmd->add_option("--format", p->format, "pt | csv (default: from the --out extension)");
  add_runtime_options(cmd, &p->runtime);
  return [p] { return run_embed(*p); };
}

}  // namespace dcacn::cli
