#pragma once
// One entry point that maps a dataset name and path (as given on the command line) to a reader.

#include <string>
#include <vector>

#include "dcacn/data/dataset.h"
#include "dcacn/data/image_folder.h"

namespace dcacn {

struct DatasetSpec {
  /// fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder
  std::string name = "fashion-mnist";
  /// Folder with the files; empty means the format's default location (fashion-mnist only:
  /// Debian's /usr/share/datasets/fashion-mnist).
  std::string path;
  /// Which part to read; datasets are clustered as a whole by default.
  Split split = Split::kAll;
  /// Image folders only.
  ImageFolderOptions folder;
};

/// Names accepted by DatasetSpec::name.
const std::vector<std::string>& dataset_names();

/// Reads the dataset; throws InputError with a readable message on any bad input.
Dataset load_dataset(const DatasetSpec& spec);

}  // namespace dcacn
