#include "dcacn/train/precision.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>

#include <chrono>
#include <memory>

#include "dcacn/augment/multicrop.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/session.h"
#include "dcacn/train/train_step.h"
#include "dcacn/util/error.h"
#include "dcacn/util/progress.h"

namespace dcacn {
namespace {

using Clock = std::chrono::steady_clock;

// One precision's copy of the run's network, optimiser and views, and a batch of random images.
struct Trial {
  Trial(const TrainConfig& c, torch::Device device, bool bf16, int64_t batch)
      : views(view_spec(c)),
        model(model_options(c, dataset_info(c).channels, views.global.front().size)),
        adam(model->parameters(), torch::optim::AdamOptions(c.lr)),
        augment(views, c.seed + 1),
        lr(c.lr) {
    if (c.channels_last) to_channels_last(*model);
    model->to(device);
    model->train();
    TrainStepOptions o;
    o.batch_size = batch;
    o.global_views = static_cast<int64_t>(views.global.size());
    o.losses = loss_options(c);
    o.bf16 = bf16;
    o.channels_last = c.channels_last;
    step = std::make_unique<TrainStep>(model, adam, o);
    const int64_t size = views.global.front().size;
    at::Generator gen = at::detail::createCPUGenerator(c.seed + 2);
    images = to_device(
        torch::randint(0, 256, {batch, dataset_info(c).channels, size, size}, gen, torch::kUInt8),
        device);
  }
  // Seconds of one training step.
  double time_step(torch::Device device) {
    const auto start = Clock::now();
    step->apply(step->losses(augment(images)), lr);
    if (device.is_cuda()) torch::cuda::synchronize();
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  MultiCropSpec views;
  DCACN model;
  torch::optim::Adam adam;
  MultiCropAugmenter augment;
  std::unique_ptr<TrainStep> step;
  torch::Tensor images;
  double lr;
};

}  // namespace

std::string PrecisionChoice::summary() const {
  return c10::str("fp32 ", fixed(fp32_images_per_second, 0), " img/s, bf16 ",
                  fixed(bf16_images_per_second, 0), " img/s: ", bf16 ? "bf16" : "fp32", " (",
                  fixed(seconds, 1), " s to measure)");
}

PrecisionChoice measure_precision(const TrainConfig& config, torch::Device device,
                                  const PrecisionTrialOptions& options) {
  DCACN_CHECK(options.steps >= 1 && options.warmup >= 0 && options.batch >= 2,
              "measuring the precision needs at least one timed step of two images");
  const auto start = Clock::now();
  const int64_t batch = std::min(options.batch, config.batch_size);
  // Both warmed up first, then their timed steps alternate, so that neither pays for a cold
  // start or for the machine's speed drifting between the two.
  Trial fp32(config, device, false, batch), bf16(config, device, true, batch);
  for (int64_t i = 0; i < options.warmup; ++i) {
    fp32.time_step(device);
    bf16.time_step(device);
  }
  double fp32_seconds = 0, bf16_seconds = 0;
  for (int64_t i = 0; i < options.steps; ++i) {
    if (i % 2 == 0) {
      fp32_seconds += fp32.time_step(device);
      bf16_seconds += bf16.time_step(device);
    } else {
      bf16_seconds += bf16.time_step(device);
      fp32_seconds += fp32.time_step(device);
    }
  }
  PrecisionChoice out;
  const double images = static_cast<double>(options.steps * batch);
  out.fp32_images_per_second = images / std::max(fp32_seconds, 1e-9);
  out.bf16_images_per_second = images / std::max(bf16_seconds, 1e-9);
  out.bf16 = out.bf16_images_per_second > out.fp32_images_per_second;
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace dcacn
