#include "../test_util.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/run/folder_preset.h"

namespace dcacn {
namespace {

class FolderPresetTest : public test::TempDirTest {
 protected:
  void write_images(const std::string& folder, int64_t count, int64_t channels, int64_t h,
                    int64_t w) {
    for (int64_t i = 0; i < count; ++i) {
      const torch::Tensor image = torch::randint(0, 256, {channels, h, w}).to(torch::kUInt8);
      write_png(path(folder + "/" + std::to_string(channels) + "_" + std::to_string(h) + "_" +
                     std::to_string(i) + ".png"),
                image);
    }
  }
};

TEST_F(FolderPresetTest, SettingsFollowTheImages) {
  write_images("flat", 64, 1, 28, 28);
  const FolderSurvey s = survey_image_folder(path("flat"));
  EXPECT_EQ(s.images, 64);
  EXPECT_EQ(s.classes, 0);
  EXPECT_EQ(s.sampled, 64);
  EXPECT_EQ(s.grey, 64);
  EXPECT_EQ(s.median_side, 28);
  EXPECT_NE(s.summary().find("64 images, flat; 64 headers read: all 28x28, grey"),
            std::string::npos)
      << s.summary();
  FolderPresetOptions o;
  o.minutes = 7;
  std::string notes;
  const TrainConfig c = folder_preset(s, o, &notes);
  EXPECT_EQ(notes, "");  // nothing adapted
  EXPECT_EQ(c.dataset, "folder");
  EXPECT_EQ(c.data_path, path("flat"));
  EXPECT_EQ(c.folder_image_size, 28);
  EXPECT_EQ(c.channels, 1);
  EXPECT_EQ(c.views, "2x28@0.2-1,4x14@0.05-0.5");
  EXPECT_EQ(c.batch_size, 16);  // a power of two, at most a quarter of the images
  EXPECT_EQ(c.time_budget_minutes, 7);
  EXPECT_EQ(c.k_range, "2-30");
  EXPECT_EQ(c.clusters, 30);  // over-clustering until K is estimated
  // K by the stability of k-means below 10 minutes, by the heads' agreement from 10 on.
  EXPECT_EQ(c.k_criterion, "stability");
  o.minutes = kHeadsCriterionMinutes;
  EXPECT_EQ(folder_preset(s, o).k_criterion, "heads");
  o.minutes = 7;
  EXPECT_EQ(c.neighbour_k, 16);
  // Neighbour views, then the neighbour stage (which estimates K).
  EXPECT_EQ(c.stages, "contrastive:share=1:neighbours=1,neighbours");
  o.clusters = 4;
  const TrainConfig fixed = folder_preset(s, o);
  EXPECT_EQ(fixed.clusters, 4);
  EXPECT_EQ(fixed.k_range, "");
  // The CPU preset's network (fmnist-cpu's), and the paper's ResNet-34 sized for a GPU.
  EXPECT_EQ(c.depth, preset("fmnist-cpu").depth);
  EXPECT_EQ(c.width, preset("fmnist-cpu").width);
  o.gpu = true;
  const TrainConfig gpu = folder_preset(s, o);
  EXPECT_EQ(gpu.depth, 34);
  EXPECT_EQ(gpu.width, 64);
}

TEST_F(FolderPresetTest, MixedSizesAndColourModesAreAdaptedAndSaidSo) {
  write_images("mixed", 30, 1, 28, 28);
  write_images("mixed", 20, 3, 64, 80);
  const FolderSurvey s = survey_image_folder(path("mixed"));
  EXPECT_EQ(s.sizes.size(), 2u);
  EXPECT_EQ(s.grey, 30);
  EXPECT_EQ(s.colour, 20);
  EXPECT_NE(s.summary().find("2 sizes (28x28 x30, 80x64 x20)"), std::string::npos) << s.summary();
  FolderPresetOptions o;
  o.k_range = "2-10";
  std::string notes;
  const TrainConfig c = folder_preset(s, o, &notes);
  EXPECT_EQ(c.channels, 3);
  EXPECT_EQ(c.folder_image_size, 28);  // the median shorter side
  EXPECT_NE(notes.find("images of 2 sizes (median shorter side 28) are resized to 28x28"),
            std::string::npos)
      << notes;
  EXPECT_NE(notes.find("30 grey and 20 colour images (of those sampled) are all read as RGB"),
            std::string::npos)
      << notes;
  // Large images are capped to what a CPU trains on in minutes.
  write_images("large", 40, 3, 200, 300);
  EXPECT_EQ(folder_preset(survey_image_folder(path("large")), o).folder_image_size, 32);
}

TEST_F(FolderPresetTest, FoldersThatCannotBeClusteredAsAskedAreRefused) {
  std::filesystem::create_directories(path("empty"));
  test::expect_error_containing([&] { survey_image_folder(path("empty")); },
                                {"no images found in", path("empty")});
  write_images("one", 1, 3, 20, 20);
  test::expect_error_containing(
      [&] { folder_preset(survey_image_folder(path("one")), FolderPresetOptions()); },
      {path("one"), "holds 1 image;", "at least 32"});
  write_images("forty", 40, 1, 16, 16);
  const FolderSurvey s = survey_image_folder(path("forty"));
  FolderPresetOptions o;
  o.clusters = 21;
  test::expect_error_containing([&] { folder_preset(s, o); },
                                {"--k 21", "40 images", "at least 2 per cluster"});
  o.clusters = 0;  // auto, up to 30 clusters: 60 images needed
  test::expect_error_containing([&] { folder_preset(s, o); },
                                {"--k auto", "2-30", "smaller --k-range"});
  o.k_range = "2-20";
  EXPECT_EQ(folder_preset(s, o).clusters, 20);
}

}  // namespace
}  // namespace dcacn
