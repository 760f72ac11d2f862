#include <filesystem>

#include "../test_util.h"
#include "dcacn/augment/transforms.h"
#include "dcacn/infer/inference.h"
#include "dcacn/io/embeddings.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/util/autocast.h"

namespace dcacn {
namespace {

class InferenceTest : public test::TempDirTest {
 protected:
  // A checkpoint of a network in the CPU preset's mode (bf16 autocast, channels-last), whose
  // configuration names views that disagree with its record, to show the record rules.
  std::string real_mode_checkpoint(DCACN* out) {
    Checkpoint c;
    c.network = DCACNOptions().depth(18).width(4).in_channels(1).image_size(12).clusters(3);
    c.config.dataset = "mnist";
    c.config.views = "2x28";
    c.config.bf16 = true;
    c.config.channels_last = true;
    torch::manual_seed(5);
    DCACN model(c.network);
    // Trained-looking batch norm statistics, so that eval mode is not an identity.
    for (auto& buffer : model->named_buffers()) {
      if (buffer.key().find("running_var") != std::string::npos) buffer.value().uniform_(0.5, 2);
      if (buffer.key().find("running_mean") != std::string::npos) buffer.value().normal_(0, 0.1);
    }
    c.model = state_dict(*model);
    c.optimizer = torch::zeros({1}, torch::kUInt8);
    c.augment_rng = torch::zeros({1}, torch::kUInt8);
    save_checkpoint(c, path("real.pt"));
    *out = model;
    return path("real.pt");
  }
};

TEST_F(InferenceTest, AVersion1CheckpointGivesTheOutputsItGaveWhenWritten) {
  const std::string dir = std::string(DCACN_FIXTURE_DIR) + "/checkpoint_v1";
  const TrainedModel t = load_trained_model(dir + "/last.pt", "cpu");
  EXPECT_EQ(t.in_channels, 1);
  EXPECT_EQ(t.image_size, 12);
  DataOverrides data;
  data.data = dir;
  const Dataset d = load_dataset_for(t, data);
  ASSERT_EQ(d.size(), 64);
  const ModelOutputs now = t.run(d.images, t.inference_options());
  const Embeddings then = read_embeddings_pt(dir + "/outputs.pt");
  // The same computation on the same machine kind; fp32, NCHW.
  EXPECT_TRUE(torch::allclose(now.probabilities, then.probabilities, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(now.features, then.features, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(now.embeddings, then.embeddings, 1e-5, 1e-6));
}

TEST_F(InferenceTest, InferenceInTheRealModeFollowsTheRecordAndMatchesAPlainForward) {
  DCACN reference{nullptr};
  const TrainedModel t = load_trained_model(real_mode_checkpoint(&reference), "cpu");
  EXPECT_EQ(t.image_size, 12);  // the record's, not the configuration's views (28)
  EXPECT_EQ(t.in_channels, 1);
  InferenceOptions o = t.inference_options();
  ASSERT_TRUE(o.bf16);
  ASSERT_TRUE(o.channels_last);
  const torch::Tensor images = torch::randint(0, 256, {10, 1, 16, 16}).to(torch::kUInt8);
  o.batch_size = 4;  // batches of 4, 4 and 2
  const ModelOutputs out = t.run(images, o);
  // The same network in fp32 NCHW, one forward over all images.
  reference->eval();
  torch::NoGradGuard no_grad;
  const DCACNOutput plain = reference->forward(eval_transform(images, 12));
  ASSERT_EQ(out.probabilities.sizes(), plain.probabilities.sizes());
  // bf16 keeps about 3 significant digits.
  EXPECT_LT((out.probabilities - plain.probabilities).abs().max().item<double>(), 0.02);
  EXPECT_LT((out.features - plain.features).abs().max().item<double>(),
            0.05 * plain.features.abs().max().item<double>());
  EXPECT_GE(out.probabilities.argmax(1).eq(plain.probabilities.argmax(1)).sum().item<int64_t>(), 9);
  // The same images in one batch give the same outputs as in three.
  o.batch_size = 64;
  EXPECT_TRUE(torch::allclose(t.run(images, o).probabilities, out.probabilities, 1e-2, 1e-3));
}

TEST_F(InferenceTest, CheckpointPathsAreResolvedWithClearErrors) {
  std::filesystem::create_directories(path("run/checkpoints"));
  test::write_text(path("run/checkpoints/last.pt"), "x");
  EXPECT_EQ(resolve_checkpoint(path("run")), path("run/checkpoints/last.pt"));
  EXPECT_EQ(resolve_checkpoint(path("run/checkpoints/last.pt"), "best"),
            path("run/checkpoints/last.pt"));
  test::expect_error_containing([&] { resolve_checkpoint(path("run"), "best"); },
                                {"has no", "best.pt", "runs keep only last.pt"});
  test::expect_error_containing([&] { resolve_checkpoint(path("."), "last"); },
                                {"not a training run", "last.pt"});
  test::expect_error_containing([&] { resolve_checkpoint(path("run"), "first"); },
                                {"last or best", "first"});
  test::expect_error_containing([&] { resolve_checkpoint(path("none.pt")); },
                                {"none.pt", "not found"});
  test::expect_error_containing([&] { load_trained_model(path("run")); }, {"last.pt", "damaged"});
}

TEST_F(InferenceTest, ChannelsAreConvertedBothWays) {
  const torch::Tensor rgb = torch::tensor({255, 0, 0, 0, 255, 0, 0, 0, 255}, torch::kUInt8)
                                .view({3, 3})
                                .t()
                                .reshape({1, 3, 1, 3});  // red, green, blue pixels
  const torch::Tensor gray = match_channels(rgb, 1);
  ASSERT_EQ(gray.sizes(), (std::vector<int64_t>{1, 1, 1, 3}));
  EXPECT_EQ(gray.flatten()[0].item<int>(), 76);   // 0.299 * 255
  EXPECT_EQ(gray.flatten()[1].item<int>(), 150);  // 0.587 * 255
  EXPECT_EQ(gray.flatten()[2].item<int>(), 29);   // 0.114 * 255
  const torch::Tensor back = match_channels(gray, 3);
  ASSERT_EQ(back.size(1), 3);
  EXPECT_TRUE(back.select(1, 2).equal(gray.select(1, 0)));
  EXPECT_TRUE(match_channels(rgb, 3).equal(rgb));
  EXPECT_THROW(match_channels(rgb, 2), std::exception);
}

}  // namespace
}  // namespace dcacn
