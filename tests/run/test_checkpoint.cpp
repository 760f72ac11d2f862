#include "../test_util.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/pickle.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

const std::string kV1 = std::string(DCACN_FIXTURE_DIR) + "/checkpoint_v1/last.pt";

class CheckpointTest : public test::TempDirTest {};

Checkpoint small_checkpoint() {
  Checkpoint c;
  c.network = DCACNOptions().depth(18).width(2).in_channels(3).image_size(20).clusters(3);
  c.config.views = "2x20,2x10";
  c.epoch = 2;
  c.batch_in_epoch = 5;
  c.step = 17;
  c.train_seconds = 12.5;
  c.pipeline = "contrastive:steps=20:lr=0.001:schedule=constant,neighbours:space=pixels";
  c.stage_index = 1;
  c.stage_started = false;
  c.stage_start_epoch = 1;
  c.metrics_rows = 4;
  c.pseudo_labels = torch::tensor({3, 1, 7, -1}, torch::kInt64).view({2, 2});
  c.stage_state = {{"neighbours", torch::arange(6, torch::kInt64).view({3, 2})},
                   {"pseudo_labels", torch::tensor({1, -1, 0}, torch::kInt64)}};
  c.stage = 4;
  torch::manual_seed(3);
  DCACN model(c.network);
  c.model = state_dict(*model);
  c.optimizer = torch::zeros({4}, torch::kUInt8);
  c.augment_rng = torch::arange(8).to(torch::kUInt8);
  c.loss_sums = {1.5, 1.0, 0.25, 0.125};
  c.loss_steps = 3;
  return c;
}

TEST_F(CheckpointTest, AVersion1FileLoadsWithItsNetworkDerivedAsVersion1Did) {
  // Written by the version before the model record (tests/fixtures/checkpoint_v1/README.md):
  // ResNet-18 at width 2 on 1-channel 12x12 images (views 2x12), K = 2.
  const Checkpoint c = load_checkpoint(kV1);
  EXPECT_EQ(c.format_version, 1);
  EXPECT_EQ(c.network.depth(), 18);
  EXPECT_EQ(c.network.width(), 2);
  EXPECT_EQ(c.network.in_channels(), 1);
  EXPECT_EQ(c.network.image_size(), 12);
  EXPECT_EQ(c.network.stem(), "cifar");
  EXPECT_EQ(c.network.clusters(), 2);
  EXPECT_EQ(c.step, 4);
  EXPECT_EQ(c.loss_steps, 0);
}

TEST_F(CheckpointTest, SaveAndLoadKeepEveryEntryAndTheResolvedNetwork) {
  const Checkpoint a = small_checkpoint();
  save_checkpoint(a, path("a.pt"));
  const Checkpoint b = load_checkpoint(path("a.pt"));
  EXPECT_EQ(b.format_version, kCheckpointFormatVersion);
  EXPECT_EQ(model_record_json(b.network), model_record_json(a.network));
  EXPECT_EQ(b.network.stem(), "cifar");  // "auto" resolved for a 20 px input
  EXPECT_EQ(b.network.image_size(), 20);
  EXPECT_EQ(b.network.in_channels(), 3);
  EXPECT_EQ(b.config.to_json(), a.config.to_json());
  EXPECT_EQ(b.epoch, 2);
  EXPECT_EQ(b.batch_in_epoch, 5);
  EXPECT_EQ(b.step, 17);
  EXPECT_DOUBLE_EQ(b.train_seconds, 12.5);
  EXPECT_EQ(b.pipeline, a.pipeline);
  EXPECT_EQ(b.stage_index, 1);
  EXPECT_FALSE(b.stage_started);
  EXPECT_EQ(b.stage_start_epoch, 1);
  EXPECT_EQ(b.metrics_rows, 4);
  EXPECT_TRUE(b.pseudo_labels.equal(a.pseudo_labels));
  EXPECT_EQ(b.stage, 4);
  ASSERT_EQ(b.stage_state.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(b.stage_state[i].first, a.stage_state[i].first);
    EXPECT_TRUE(b.stage_state[i].second.equal(a.stage_state[i].second));
  }
  EXPECT_EQ(b.loss_sums, a.loss_sums);
  EXPECT_EQ(b.loss_steps, 3);
  EXPECT_TRUE(b.augment_rng.equal(a.augment_rng));
  ASSERT_EQ(b.model.size(), a.model.size());
  for (size_t i = 0; i < a.model.size(); ++i) {
    EXPECT_EQ(b.model[i].first, a.model[i].first);
    EXPECT_TRUE(b.model[i].second.equal(a.model[i].second)) << a.model[i].first;
  }
  // No temporary file is left behind.
  EXPECT_FALSE(is_file(path("a.pt.tmp")));
}

// Version 4 wrote no stage state and knew stages 1-3 only.
TEST_F(CheckpointTest, Version4FilesLoadWithNoStageState) {
  Checkpoint a = small_checkpoint();
  a.stage = 3;
  save_checkpoint(a, path("a.pt"));
  auto dict = read_pickle(path("a.pt"), "a.pt").toGenericDict();
  EXPECT_EQ(dict.erase("stage_state"), 1u);
  dict.insert_or_assign("format_version", int64_t{4});
  write_pickle(path("a.pt"), dict);
  const Checkpoint b = load_checkpoint(path("a.pt"));
  EXPECT_EQ(b.format_version, 4);
  EXPECT_TRUE(b.stage_state.empty());
  EXPECT_EQ(b.stage, 3);
  dict.insert_or_assign("stage", int64_t{4});
  write_pickle(path("a.pt"), dict);
  test::expect_error_containing([&] { load_checkpoint(path("a.pt")); },
                                {"a.pt is in stage 4, expected 1 to 3"});
}

TEST_F(CheckpointTest, TheRecordNotTheConfigurationDescribesTheNetwork) {
  Checkpoint a = small_checkpoint();
  a.config.dataset = "stl10";  // its default views would say 96 px
  a.config.views = "";
  save_checkpoint(a, path("a.pt"));
  const Checkpoint b = load_checkpoint(path("a.pt"));
  EXPECT_EQ(b.network.image_size(), 20);
  EXPECT_EQ(b.network.in_channels(), 3);
  DCACN model(b.network);
  load_state_dict(*model, b.model, path("a.pt"));  // the shapes fit
}

TEST_F(CheckpointTest, BadRecordsAndNewerVersionsAreRefusedNamingTheFile) {
  save_checkpoint(small_checkpoint(), path("a.pt"));
  auto dict = read_pickle(path("a.pt"), "test").toGenericDict();
  const int64_t newer = kCheckpointFormatVersion + 1;
  dict.insert_or_assign("format_version", newer);
  write_pickle(path("newer.pt"), dict);
  expect_error_containing([&] { load_checkpoint(path("newer.pt")); },
                          {path("newer.pt"), c10::str("format version ", newer),
                           c10::str("versions 1 to ", kCheckpointFormatVersion)});
  dict.insert_or_assign("format_version", kCheckpointFormatVersion);
  dict.insert_or_assign("model_record", std::string(R"({"architecture": "resnet34"})"));
  write_pickle(path("short.pt"), dict);
  expect_error_containing([&] { load_checkpoint(path("short.pt")); },
                          {path("short.pt"), "model record"});
  nlohmann::json record = model_record_json(small_checkpoint().network);
  record["architecture"] = "vgg16";
  dict.insert_or_assign("model_record", record.dump());
  write_pickle(path("vgg.pt"), dict);
  expect_error_containing([&] { load_checkpoint(path("vgg.pt")); },
                          {path("vgg.pt"), "vgg16", "resnet18, resnet34 or resnet50"});
  record = model_record_json(small_checkpoint().network);
  record["in_channels"] = 2;
  dict.insert_or_assign("model_record", record.dump());
  write_pickle(path("two.pt"), dict);
  expect_error_containing([&] { load_checkpoint(path("two.pt")); },
                          {path("two.pt"), "out-of-range"});
}

}  // namespace
}  // namespace dcacn
