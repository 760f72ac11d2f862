#include "dcacn/data/stl10.h"

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn {
namespace {

constexpr int64_t kSide = 96;
constexpr int64_t kImageBytes = 3 * kSide * kSide;
const char* kExpected =
    "stl10_binary/ with train_X.bin, train_y.bin, test_X.bin, test_y.bin (and unlabeled_X.bin)";

Dataset read_part(const std::string& dir, const std::string& part, bool labelled,
                  int64_t official_count) {
  const std::string x_path = dir + "/" + part + "_X.bin";
  DCACN_CHECK(is_file(x_path), "missing file ", x_path, " (expected ", kExpected, ")");
  torch::Tensor raw = read_fixed_records(x_path, kImageBytes, "STL-10 96x96x3 image");
  if (raw.size(0) != official_count) {
    log_warning(c10::str(x_path, " holds ", raw.size(0), " images; the official file has ",
                         official_count));
  }
  Dataset out;
  // Column-major planes: the bytes of one channel are [W][H]; transpose to [H][W].
  out.images = raw.view({-1, 3, kSide, kSide}).transpose(2, 3).contiguous();
  if (labelled) {
    const std::string y_path = dir + "/" + part + "_y.bin";
    DCACN_CHECK(is_file(y_path), "missing file ", y_path, " (expected ", kExpected, ")");
    torch::Tensor labels = read_fixed_records(y_path, 1, "label byte").view({-1});
    DCACN_CHECK(labels.size(0) == raw.size(0), "image and label counts differ: ", x_path, " has ",
                raw.size(0), " images but ", y_path, " has ", labels.size(0), " labels");
    torch::Tensor bad = (labels < 1) | (labels > 10);
    if (bad.any().item<bool>()) {
      const int64_t at = bad.nonzero()[0][0].item<int64_t>();
      throw InputError(c10::str("label ", labels[at].item<int64_t>(), " of image ", at, " in ",
                                y_path, " is out of range; STL-10 labels are 1..10"));
    }
    out.labels = labels.to(torch::kInt64) - 1;
  }
  return out;
}

}  // namespace

Dataset load_stl10(const std::string& root, Split split) {
  DCACN_CHECK(is_directory(root), "data folder not found: ", root, " (expected ", kExpected, ")");
  std::string dir = root;
  if (!is_file(dir + "/train_X.bin") && !is_file(dir + "/unlabeled_X.bin") &&
      is_directory(root + "/stl10_binary")) {
    dir = root + "/stl10_binary";
  }
  std::vector<Dataset> parts;
  if (split == Split::kTrain || split == Split::kAll) {
    parts.push_back(read_part(dir, "train", true, 5000));
  }
  if (split == Split::kTest || split == Split::kAll) {
    parts.push_back(read_part(dir, "test", true, 8000));
  }
  if (split == Split::kUnlabeled) parts.push_back(read_part(dir, "unlabeled", false, 100000));
  Dataset out = concat(parts, "stl10 (" + split_name(split) + ")");
  std::vector<std::string> names;
  if (is_file(dir + "/class_names.txt")) names = read_lines(dir + "/class_names.txt");
  if (names.size() != 10) {
    names = {"airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"};
  }
  out.class_names = names;
  return out;
}

}  // namespace dcacn
