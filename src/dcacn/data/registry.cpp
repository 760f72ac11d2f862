#include "dcacn/data/registry.h"

#include "dcacn/data/cifar.h"
#include "dcacn/data/idx.h"
#include "dcacn/data/stl10.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> kNames = {"fashion-mnist", "mnist",  "cifar10",
                                                  "cifar100",      "stl10", "folder"};
  return kNames;
}

Dataset load_dataset(const DatasetSpec& spec) {
  const std::string& name = spec.name;
  auto need_path = [&](const char* example) {
    DCACN_CHECK(!spec.path.empty(), "--dataset ", name, " needs --data PATH (", example, ")");
  };
  if (name == "fashion-mnist") {
    const std::string dir = spec.path.empty() ? kDebianFashionMnistDir : spec.path;
    DCACN_CHECK(!spec.path.empty() || is_directory(dir),
                "Fashion-MNIST not found in ", dir,
                ": install Debian's package (apt-get install dataset-fashion-mnist) or pass "
                "--data PATH");
    return load_idx_dataset(dir, spec.split, IdxFlavor::kFashionMnist);
  }
  if (name == "mnist") {
    need_path("a folder with train-images-idx3-ubyte.gz and friends");
    return load_idx_dataset(spec.path, spec.split, IdxFlavor::kMnist);
  }
  if (name == "cifar10") {
    need_path("the cifar-10-batches-bin folder");
    return load_cifar10(spec.path, spec.split);
  }
  if (name == "cifar100") {
    need_path("the cifar-100-binary folder");
    return load_cifar100(spec.path, spec.split);
  }
  if (name == "stl10") {
    need_path("the stl10_binary folder");
    return load_stl10(spec.path, spec.split);
  }
  if (name == "folder" || name == "image-folder") {
    need_path("a folder of images, root/<class>/<image> or flat");
    DCACN_CHECK(spec.split == Split::kAll, "image folders have no splits; drop --split");
    return load_image_folder(spec.path, spec.folder);
  }
  std::string known;
  for (const auto& n : dataset_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("unknown dataset '" + name + "': expected one of " + known);
}

}  // namespace dcacn
