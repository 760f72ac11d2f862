// Multi-crop augmentation throughput, and its share of a training step (benchmark, not a
// test). Prints one JSON object. bench/py/augment_throughput.py is the torchvision side.

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "dcacn/augment/multicrop.h"
#include "dcacn/data/registry.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/util/autocast.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"multi-crop views/s and augmentation share of a training step"};
  std::string dataset = "cifar10";
  int64_t image_size = 32, channels = 3, batch = 256, batches = 10, width = 16, train_steps = 3;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  app.add_option("--dataset", dataset, "picks the default views (cifar10: 2x32 + 4x16)");
  app.add_option("--image-size", image_size);
  app.add_option("--channels", channels);
  app.add_option("--batch", batch);
  app.add_option("--batches", batches);
  app.add_option("--width", width, "model width for the training-step comparison");
  app.add_option("--train-steps", train_steps);
  app.add_option("--threads", threads);
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  torch::manual_seed(0);
  const torch::Tensor images =
      torch::randint(0, 256, {batch, channels, image_size, image_size}).to(torch::kUInt8);
  dcacn::ImageFolderOptions folder;
  folder.image_size = image_size;
  const dcacn::MultiCropSpec spec = dcacn::parse_views(
      dcacn::dataset_info(dataset, folder).default_views, dcacn::MultiCropSpec());
  dcacn::MultiCropAugmenter augment(spec, 0);

  augment(images);  // warm-up
  auto start = std::chrono::steady_clock::now();
  std::vector<torch::Tensor> views;
  for (int64_t i = 0; i < batches; ++i) views = augment(images);
  const double augment_s = seconds_since(start) / batches;

  // A training step on those views as the fmnist-cpu preset runs it (channels-last weights,
  // bf16 autocast): forward and backward of every view, an Adam update.
  dcacn::DCACN model(
      dcacn::DCACNOptions().width(width).in_channels(channels).image_size(image_size));
  dcacn::to_channels_last(*model);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(3e-4));
  auto step = [&] {
    adam.zero_grad();
    torch::Tensor loss = torch::zeros({});
    {
      dcacn::AutocastGuard autocast(true, torch::kCPU);
      for (const auto& v : views) {
        const dcacn::DCACNOutput out =
            model->forward(v.contiguous(torch::MemoryFormat::ChannelsLast));
        loss = loss + out.embedding.sum().to(torch::kFloat32) +
               out.probabilities.pow(2).sum().to(torch::kFloat32);
      }
    }
    loss.backward();
    adam.step();
  };
  step();
  start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < train_steps; ++i) step();
  const double step_s = seconds_since(start) / train_steps;

  nlohmann::json out = {{"implementation", "c++"},
                        {"views", spec.describe()},
                        {"batch", batch},
                        {"threads", at::get_num_threads()},
                        {"augment_seconds_per_batch", augment_s},
                        {"views_per_s", batch * spec.num_views() / augment_s},
                        {"images_per_s", batch / augment_s},
                        {"model_width", width},
                        {"train_step_seconds", step_s},
                        {"augment_share_of_step", augment_s / (augment_s + step_s)}};
  std::cout << out.dump() << '\n';
  return 0;
}
