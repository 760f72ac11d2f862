// The CUDA path against the CPU path: the same network, loss, views, k-means and a whole run on a
// GPU. Skipped where this LibTorch has no CUDA or no GPU is visible (the CI machine); run on a GPU
// machine by scripts/device-check.sh.
#include <torch/cuda.h>

#include <filesystem>

#include "../test_util.h"
#include "../train/train_util.h"
#include "dcacn/augment/multicrop.h"
#include "dcacn/cluster/kmeans.h"
#include "dcacn/infer/inference.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/train/losses.h"
#include "dcacn/train/trainer.h"

namespace dcacn {
namespace {

class CudaTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    TempDirTest::SetUp();
  }
  const torch::Device cuda_{torch::kCUDA};
};

// Largest |a - b| relative to the largest |b|.
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.detach().cpu().to(torch::kFloat64);
  const torch::Tensor y = b.detach().cpu().to(torch::kFloat64);
  return (x - y).abs().max().item<double>() / std::max(1e-12, y.abs().max().item<double>());
}

DCACN small_model() {
  return DCACN(DCACNOptions().depth(18).width(8).in_channels(1).image_size(16).clusters(5));
}

// Forward and backward of the multi-crop loss agree between CPU and CUDA. In float64, so that
// neither TF32 convolutions nor summation order hide a real difference.
TEST_F(CudaTest, LossAndGradientsMatchTheCpu) {
  DCACN cpu = small_model();
  cpu->to(torch::kFloat64);
  auto gpu = std::dynamic_pointer_cast<DCACNImpl>(cpu->clone(cuda_));
  ASSERT_TRUE(gpu);
  const torch::Tensor a = torch::rand({16, 1, 16, 16}, torch::kFloat64);
  const torch::Tensor b = torch::rand({16, 1, 16, 16}, torch::kFloat64);
  LossOptions options;
  auto loss_of = [&](DCACNImpl& model, const torch::Device& device) {
    const DCACNOutput u = model.forward(a.to(device));
    const DCACNOutput v = model.forward(b.to(device));
    return multicrop_loss({u.embedding, v.embedding}, {u.probabilities, v.probabilities}, 2,
                          options);
  };
  const LossTerms on_cpu = loss_of(*cpu, torch::kCPU);
  const LossTerms on_gpu = loss_of(*gpu, cuda_);
  EXPECT_TRUE(on_gpu.total.is_cuda());
  EXPECT_LT(relative_difference(on_gpu.total, on_cpu.total), 1e-9);
  EXPECT_LT(relative_difference(on_gpu.instance, on_cpu.instance), 1e-9);
  EXPECT_LT(relative_difference(on_gpu.cluster, on_cpu.cluster), 1e-9);
  on_cpu.total.backward();
  on_gpu.total.backward();
  const auto cpu_params = cpu->named_parameters();
  const auto gpu_params = gpu->named_parameters();
  int64_t compared = 0;
  for (const auto& item : cpu_params) {
    const torch::Tensor g_cpu = item.value().grad();
    const torch::Tensor g_gpu = gpu_params[item.key()].grad();
    if (!g_cpu.defined() || g_cpu.abs().max().item<double>() < 1e-12) continue;
    ASSERT_TRUE(g_gpu.defined()) << item.key();
    EXPECT_LT(relative_difference(g_gpu, g_cpu), 1e-6) << item.key();
    ++compared;
  }
  EXPECT_GT(compared, 50);
}

// The augmenter draws its randomness on the CPU, so one seed gives the same views on both devices.
TEST_F(CudaTest, TheSameSeedDrawsTheSameViews) {
  const torch::Tensor images = torch::randint(0, 256, {8, 1, 28, 28}).to(torch::kUInt8);
  MultiCropSpec defaults;
  const MultiCropSpec spec = parse_views("2x28@0.3-1:affine=0.5:erase=0.5,2x14@0.1-0.5", defaults);
  MultiCropAugmenter on_cpu(spec, 7);
  MultiCropAugmenter on_gpu(spec, 7);
  for (int call = 0; call < 3; ++call) {
    const auto a = on_cpu(images);
    const auto b = on_gpu(images.to(cuda_));
    ASSERT_EQ(a.size(), b.size());
    for (size_t v = 0; v < a.size(); ++v) {
      EXPECT_TRUE(b[v].is_cuda());
      EXPECT_LT((b[v].cpu() - a[v]).abs().max().item<double>(), 2e-3) << "view " << v;
    }
  }
}

TEST_F(CudaTest, KMeansFindsTheSameClustersAsOnTheCpu) {
  const torch::Tensor centres = torch::randn({4, 16}) * 10;
  const torch::Tensor x = centres.repeat({50, 1}) + torch::randn({200, 16});
  KMeansOptions options;
  options.k = 4;
  options.n_init = 3;
  const KMeansResult cpu = kmeans(x, options);
  const KMeansResult gpu = kmeans(x.to(cuda_), options);
  EXPECT_TRUE(torch::equal(gpu.labels.cpu(), cpu.labels));
  EXPECT_NEAR(gpu.inertia, cpu.inertia, 1e-3 * cpu.inertia);
}

// A whole run on the GPU in bf16: it trains, evaluates, writes checkpoints that load on the CPU,
// and resumes.
TEST_F(CudaTest, ARunTrainsInBf16AndItsCheckpointLoadsOnTheCpu) {
  test::write_two_square_idx(path("data"), 128);
  TrainConfig c = test::tiny_train_config(path("data"));
  c.width = 8;
  c.device = "cuda";
  c.bf16 = true;
  const TrainResult result = Trainer(c, path("run")).run();
  EXPECT_EQ(result.status, TrainResult::Status::kFinished);
  EXPECT_EQ(result.step, 8);
  ASSERT_TRUE(result.last_eval.has_labels);
  EXPECT_GE(result.last_eval.scores.acc, 0.5);
  const TrainedModel model = load_trained_model(path("run"), "cpu");
  EXPECT_TRUE(model.device.is_cpu());
  EXPECT_EQ(model.step, 8);
  ResumeOverrides more;
  more.epochs = 3;
  const TrainResult resumed = Trainer(path("run"), more).run();
  EXPECT_EQ(resumed.step, 12);
}

}  // namespace
}  // namespace dcacn
