#include "dcacn/data/registry.h"

#include <c10/util/StringUtil.h>

#include "dcacn/data/cifar.h"
#include "dcacn/data/idx.h"
#include "dcacn/data/stl10.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

// Views for small images (docs/design.md section 5): globals of scale 0.2-1 with CC's jitter at
// s = 0.5, locals at half size of scale 0.05-0.5 with blur.
std::string small_image_views(int64_t size, int64_t locals) {
  return c10::str("2x", size, "@0.2-1:jitter=0.5,", locals, "x", size / 2,
                  "@0.05-0.5:jitter=0.5:blur=0.5");
}

// ImageNet-like settings for larger images: globals of scale 0.14-1, jitter s = 1 and blur;
// locals at half size of scale 0.05-0.4.
std::string large_image_views(int64_t size) {
  return c10::str("2x", size, "@0.14-1:jitter=1:blur=0.5,4x", size / 2,
                  "@0.05-0.4:jitter=1:blur=0.5");
}

}  // namespace

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> kNames = {"fashion-mnist", "mnist", "cifar10",
                                                  "cifar100",      "stl10", "folder"};
  return kNames;
}

DatasetInfo dataset_info(const std::string& name, const ImageFolderOptions& folder) {
  DatasetInfo d;
  d.name = name;
  if (name == "fashion-mnist" || name == "mnist") {
    d.image_size = 28;
    d.channels = 1;
    d.default_views = small_image_views(28, 2);
    if (name == "fashion-mnist") {
      d.default_path = kDebianFashionMnistDir;
      d.cpu_preset = "fmnist-cpu";
    }
    d.path_hint = "a folder with train-images-idx3-ubyte.gz and friends";
  } else if (name == "cifar10" || name == "cifar100") {
    d.image_size = 32;
    d.channels = 3;
    d.default_views = small_image_views(32, 4);
    d.path_hint =
        name == "cifar10" ? "the cifar-10-batches-bin folder" : "the cifar-100-binary folder";
  } else if (name == "stl10") {
    d.image_size = 96;
    d.channels = 3;
    d.default_views = large_image_views(96);
    d.path_hint = "the stl10_binary folder";
  } else if (name == "folder" || name == "image-folder") {
    d.name = "folder";
    d.image_size = folder.image_size;
    d.channels = folder.channels;
    d.default_views = large_image_views(folder.image_size);
    d.path_hint = "a folder of images, root/<class>/<image> or flat";
  } else {
    std::string known;
    for (const auto& n : dataset_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError("unknown dataset '" + name + "': expected one of " + known);
  }
  return d;
}

Dataset load_dataset(const DatasetSpec& spec) {
  const DatasetInfo info = dataset_info(spec.name, spec.folder);
  const std::string& name = info.name;
  const std::string dir = spec.path.empty() ? info.default_path : spec.path;
  if (dir.empty()) {
    throw InputError(c10::str("--dataset ", name, " needs --data PATH (", info.path_hint, ")"));
  }
  if (name == "fashion-mnist") {
    DCACN_CHECK(!spec.path.empty() || is_directory(dir), "Fashion-MNIST not found in ", dir,
                ": install Debian's package (apt-get install dataset-fashion-mnist) or pass "
                "--data PATH");
    return load_idx_dataset(dir, spec.split, IdxFlavor::kFashionMnist);
  }
  if (name == "mnist") return load_idx_dataset(dir, spec.split, IdxFlavor::kMnist);
  if (name == "cifar10") return load_cifar10(dir, spec.split);
  if (name == "cifar100") return load_cifar100(dir, spec.split);
  if (name == "stl10") return load_stl10(dir, spec.split);
  DCACN_CHECK(spec.split == Split::kAll, "image folders have no splits; drop --split");
  return load_image_folder(dir, spec.folder);
}

}  // namespace dcacn
