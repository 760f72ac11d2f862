#include "dcacn/run/folder_preset.h"

#include <algorithm>
#include <vector>

#include "dcacn/data/image_folder.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

std::string size_text(const std::pair<int64_t, int64_t>& size) {
  return c10::str(size.first, "x", size.second);
}

// The largest power of two <= n (n >= 1).
int64_t power_of_two_below(int64_t n) {
  int64_t p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

}  // namespace

std::string FolderSurvey::summary() const {
  std::string text = c10::str(with_thousands(images), " images, ",
                              classes > 0 ? c10::str("labelled (", classes, " classes)") : "flat",
                              "; ", sampled, " headers read: ");
  if (sizes.size() == 1) {
    text += "all " + size_text(sizes.begin()->first);
  } else {
    std::vector<std::pair<int64_t, std::pair<int64_t, int64_t>>> by_count;
    for (const auto& [size, count] : sizes) by_count.push_back({-count, size});
    std::sort(by_count.begin(), by_count.end());
    text += c10::str(sizes.size(), " sizes (");
    for (size_t i = 0; i < by_count.size() && i < 3; ++i) {
      text += (i ? ", " : "") + size_text(by_count[i].second) + " x" +
              std::to_string(-by_count[i].first);
    }
    text += by_count.size() > 3 ? ", ...)" : ")";
    text += c10::str(", median shorter side ", median_side);
  }
  text += grey > 0 && colour > 0 ? c10::str(", ", grey, " grey and ", colour, " colour")
          : grey > 0             ? ", grey"
                                 : ", colour";
  if (unreadable > 0) text += c10::str(", ", unreadable, " unreadable");
  return text;
}

FolderSurvey survey_image_folder(const std::string& root, const FolderSurveyOptions& options) {
  const ImageFolderListing listing = list_image_folder(root);
  FolderSurvey s;
  s.root = root;
  s.images = static_cast<int64_t>(listing.files.size());
  s.classes = static_cast<int64_t>(listing.class_names.size());
  const int64_t sample = std::max<int64_t>(1, std::min(s.images, options.sample));
  std::vector<int64_t> sides;
  for (int64_t i = 0; i < sample; ++i) {
    // Spread over the sorted list, so that every class folder is seen.
    const int64_t index = i * s.images / sample;
    const ImageHeader h = read_image_header(listing.files[index]);
    ++s.sampled;
    if (!h.error.empty()) {
      ++s.unreadable;
      continue;
    }
    ++s.sizes[{h.width, h.height}];
    (h.channels <= 2 ? s.grey : s.colour) += 1;
    sides.push_back(std::min(h.width, h.height));
  }
  DCACN_CHECK(!sides.empty(), "none of the ", s.sampled, " images sampled in ", root,
              " could be read (e.g. ", listing.files.front(), ")");
  std::sort(sides.begin(), sides.end());
  s.median_side = sides[sides.size() / 2];
  return s;
}

TrainConfig folder_preset(const FolderSurvey& s, const FolderPresetOptions& o, std::string* notes) {
  const int64_t max_k = o.clusters > 0 ? o.clusters : parse_k_range(o.k_range, "--k-range").second;
  DCACN_CHECK(s.images >= kFolderMinimumImages, s.root, " holds ", s.images, " image",
              s.images == 1 ? "" : "s", "; clustering needs at least ", kFolderMinimumImages);
  DCACN_CHECK(o.clusters == 0 || s.images >= 2 * o.clusters, "--k ", o.clusters, " is more than ",
              s.root, "'s ", s.images, " images can make (at least 2 per cluster)");
  DCACN_CHECK(o.clusters > 0 || s.images >= 2 * max_k, "--k auto: the range ", o.k_range,
              " goes up to ", max_k, " clusters, more than ", s.root, "'s ", s.images,
              " images can make (at least 2 per cluster); give a smaller --k-range");
  DCACN_CHECK(o.minutes > 0, "--minutes must be positive, got ", o.minutes);
  TrainConfig c;
  c.preset = "cluster";
  c.dataset = "folder";
  c.data_path = s.root;
  // The input: the images' median shorter side, capped for the compute (32 px on a CPU: a
  // ResNet step at 64 px costs 4x, and fmnist-cpu's 28 px already fills a 10-minute budget).
  const int64_t cap = o.gpu ? 96 : 32;
  const int64_t size = std::max<int64_t>(16, std::min(cap, s.median_side) / 2 * 2);
  c.folder_image_size = size;
  c.channels = s.colour > 0 ? 3 : 1;
  const int64_t local = std::max<int64_t>(8, size / 2 / 2 * 2);
  c.views = c10::str("2x", size, "@0.2-1,4x", local, "@0.05-0.5");
  // fmnist-cpu's network on a CPU (ResNet-18: the better accuracy per FLOP there), the paper's
  // ResNet-34 on a GPU.
  c.depth = o.gpu ? 34 : 18;
  c.width = o.gpu ? 64 : 16;
  c.batch_size = std::min<int64_t>(256, power_of_two_below(std::max<int64_t>(2, s.images / 4)));
  c.lr = 1e-3;
  c.epochs = 1000;
  c.time_budget_minutes = o.minutes;
  // Neighbour views (every image's second global view is of one of its whitened pixel
  // neighbours), then the neighbour stage, which estimates K under --k auto. The views also make
  // the features that K is read from: at 5 minutes on four Fashion-MNIST folders the estimate
  // was exact on 2 and within one on 3, against none without them, the same day; on the 10,000
  // test images (10 minutes) it chose 13 (bench/results/k_estimation.md). fmnist-cpu's own=on
  // is left out: it needs K.
  c.stages = "contrastive:share=1:neighbours=1,neighbours";
  c.neighbour_space = "pixels";
  c.neighbour_k = std::min<int64_t>(20, s.images / 4);
  c.bf16 = true;
  c.precision_auto = true;  // the faster of fp32 and bf16, timed when the run starts
  c.channels_last = true;
  c.eval_every_minutes = std::max(0.5, o.minutes / 10.0);
  c.eval_images = s.images > 5000 ? 5000 : 0;
  c.eval_batch_size = 512;
  if (o.clusters > 0) {
    c.clusters = o.clusters;
  } else {
    // Over-clustering until the neighbours stage estimates K: the head has the range's end.
    c.k_range = o.k_range;
    c.clusters = max_k;
    c.k_criterion = o.minutes >= kHeadsCriterionMinutes ? "heads" : "stability";
  }
  if (notes != nullptr) {
    notes->clear();
    if (s.sizes.size() > 1 || s.median_side != size) {
      *notes += c10::str("images of ", s.sizes.size(), " size", s.sizes.size() > 1 ? "s" : "",
                         " (median shorter side ", s.median_side, ") are resized to ", size, "x",
                         size, " (their central square; --image-size to change)\n");
    }
    if (s.grey > 0 && s.colour > 0) {
      *notes += c10::str(s.grey, " grey and ", s.colour,
                         " colour images (of those sampled) are all read as RGB\n");
    }
    if (s.unreadable > 0) {
      *notes += c10::str(s.unreadable, " of the ", s.sampled,
                         " sampled images cannot be read and will be skipped\n");
    }
  }
  c.validate();
  return c;
}

}  // namespace dcacn
