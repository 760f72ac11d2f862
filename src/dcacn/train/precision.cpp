#include "dcacn/train/precision.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>

#include <chrono>

#include "dcacn/augment/multicrop.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/session.h"
#include "dcacn/train/train_step.h"
#include "dcacn/util/error.h"
#include "dcacn/util/progress.h"

namespace dcacn {
namespace {

using Clock = std::chrono::steady_clock;

// Training images per second of `steps` timed steps after `warmup` untimed ones.
double images_per_second(const TrainConfig& c, torch::Device device, bool bf16, int64_t batch,
                         const PrecisionTrialOptions& o) {
  const MultiCropSpec views = view_spec(c);
  const int64_t size = views.global.front().size;
  const int64_t channels = dataset_info(c).channels;
  DCACN model(model_options(c, channels, size));
  if (c.channels_last) to_channels_last(*model);
  model->to(device);
  model->train();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(c.lr));
  TrainStepOptions step_options;
  step_options.batch_size = batch;
  step_options.global_views = static_cast<int64_t>(views.global.size());
  step_options.losses = loss_options(c);
  step_options.bf16 = bf16;
  step_options.channels_last = c.channels_last;
  TrainStep step(model, adam, step_options);
  MultiCropAugmenter augment(views, c.seed + 1);
  at::Generator gen = at::detail::createCPUGenerator(c.seed + 2);
  const torch::Tensor images =
      torch::randint(0, 256, {batch, channels, size, size}, gen, torch::kUInt8);
  const torch::Tensor on_device = to_device(images, device);
  Clock::time_point start;
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    if (i == o.warmup) {
      if (device.is_cuda()) torch::cuda::synchronize();
      start = Clock::now();
    }
    step.apply(step.losses(augment(on_device)), c.lr);
  }
  if (device.is_cuda()) torch::cuda::synchronize();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(o.steps * batch) / std::max(seconds, 1e-9);
}

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
  PrecisionChoice out;
  out.fp32_images_per_second = images_per_second(config, device, false, batch, options);
  out.bf16_images_per_second = images_per_second(config, device, true, batch, options);
  out.bf16 = out.bf16_images_per_second > out.fp32_images_per_second;
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace dcacn
