#include "dcacn/infer/inference.h"

#include "dcacn/augment/transforms.h"
#include "dcacn/data/registry.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/run/setup.h"
#include "dcacn/util/autocast.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/progress.h"

namespace dcacn {

ModelOutputs run_model(DCACNImpl& model, const torch::Tensor& images, int64_t image_size,
                       const InferenceOptions& o) {
  DCACN_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
              "expected uint8 images [N, C, H, W], got ", images.sizes(), " ", images.dtype());
  DCACN_CHECK(o.batch_size >= 1, "the batch size must be positive, got ", o.batch_size);
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const torch::Device device = model.parameters().front().device();
  const int64_t n = images.size(0);
  std::vector<torch::Tensor> features, embeddings, probabilities;
  Progress progress;
  for (int64_t start = 0; start < n; start += o.batch_size) {
    const int64_t end = std::min(n, start + o.batch_size);
    torch::Tensor x = eval_transform(to_device(images.slice(0, start, end), device), image_size);
    if (o.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    DCACNOutput out;
    {
      AutocastGuard autocast(o.bf16, device);
      out = model.forward(x);
    }
    // Under bf16 autocast the heads' softmax and L2 normalisation round to bf16 (rows off by
    // up to ~0.4%); renormalising in float32 makes rows sum to 1 and have unit norm again
    // without changing any argmax.
    const torch::Tensor p = out.probabilities.to(torch::kCPU, torch::kFloat32);
    probabilities.push_back(p / p.sum(1, /*keepdim=*/true));
    if (o.features) features.push_back(out.features.to(torch::kCPU, torch::kFloat32));
    if (o.embeddings) {
      const torch::Tensor e = out.embedding.to(torch::kCPU, torch::kFloat32);
      embeddings.push_back(e / e.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12));
    }
    if (!o.progress.empty()) {
      progress.update(c10::str(o.progress, ": ", end, " / ", n, " images"));
    }
  }
  progress.finish();
  if (was_training) model.train();
  ModelOutputs r;
  const int64_t k = model.options.clusters();
  r.probabilities = probabilities.empty() ? torch::empty({0, k}) : torch::cat(probabilities);
  if (o.features && !features.empty()) r.features = torch::cat(features);
  if (o.embeddings && !embeddings.empty()) r.embeddings = torch::cat(embeddings);
  return r;
}

InferenceOptions TrainedModel::inference_options() const {
  InferenceOptions o;
  o.batch_size = config.eval_batch_size;
  o.bf16 = config.bf16;
  o.channels_last = config.channels_last;
  return o;
}

ModelOutputs TrainedModel::run(const torch::Tensor& images, const InferenceOptions& options) const {
  DCACN_CHECK(images.dim() == 4 && images.size(1) == in_channels, "the model of ", checkpoint,
              " takes ", in_channels, "-channel images, got ", images.sizes());
  return run_model(*model.ptr(), images, image_size, options);  // the module itself is shared
}

std::string resolve_checkpoint(const std::string& path, const std::string& which) {
  DCACN_CHECK(which == "last" || which == "best",
              "the checkpoint to use must be last or best, got ", which);
  if (is_directory(path)) {
    const std::string file = path + "/checkpoints/" + which + ".pt";
    DCACN_CHECK(which != "best" || is_file(file), path, " has no ", file,
                ": runs keep only last.pt (a best.pt chosen by ACC let the labels pick the model; "
                "runs of earlier versions may have one)");
    DCACN_CHECK(is_file(file), path, " is not a training run: ", file, " not found");
    return file;
  }
  DCACN_CHECK(is_file(path), "checkpoint ", path, " not found");
  return path;
}

TrainedModel load_trained_model(const std::string& path, const std::string& device,
                                const std::string& which) {
  TrainedModel t;
  t.checkpoint = resolve_checkpoint(path, which);
  Checkpoint ck = load_checkpoint(t.checkpoint);
  t.config = ck.config;
  t.network = ck.network;
  t.epoch = ck.epoch;
  t.step = ck.step;
  // The network comes from the checkpoint's model record alone (version 1 files: derived).
  t.in_channels = ck.network.in_channels();
  t.image_size = ck.network.image_size();
  t.device = pick_device(device);
  t.model = DCACN(ck.network);
  if (t.config.channels_last) to_channels_last(*t.model);
  load_state_dict(*t.model, ck.model, t.checkpoint);
  t.model->to(t.device);
  t.model->eval();
  return t;
}

Dataset load_dataset_for(const TrainedModel& model, const DataOverrides& o) {
  TrainConfig c = model.config;
  if (!o.dataset.empty() && o.dataset != c.dataset) {
    c.dataset = o.dataset;
    c.data_path.clear();  // the run's folder belongs to its own dataset
    c.split = "all";
  }
  if (!o.data.empty()) c.data_path = o.data;
  if (!o.split.empty()) c.split = o.split;
  if (o.image_size > 0) c.folder_image_size = o.image_size;
  DatasetSpec spec = dataset_spec(c);
  spec.folder.channels = model.in_channels;
  Dataset data = load_dataset(spec);
  data.images = match_channels(data.images, model.in_channels);
  return data;
}

torch::Tensor match_channels(const torch::Tensor& images, int64_t channels) {
  DCACN_CHECK(channels == 1 || channels == 3, "channels must be 1 or 3, got ", channels);
  const int64_t have = images.size(1);
  if (have == channels) return images;
  if (channels == 3)
    return images.expand({images.size(0), 3, images.size(2), images.size(3)}).contiguous();
  DCACN_CHECK(have == 3, "cannot convert ", have, "-channel images to ", channels);
  const torch::Tensor f = images.to(torch::kFloat);
  const torch::Tensor y = f.select(1, 0) * 0.299 + f.select(1, 1) * 0.587 + f.select(1, 2) * 0.114;
  return y.round().clamp(0, 255).to(torch::kUInt8).unsqueeze(1);
}

}  // namespace dcacn
