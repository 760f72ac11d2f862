#pragma once
// What dcacn knows about each dataset (one table, see dataset_info) and the one entry point
// that maps a dataset name and path, as given on the command line, to its reader.

#include <string>
#include <vector>

#include "dcacn/data/dataset.h"
#include "dcacn/data/image_folder.h"

namespace dcacn {

/// A dataset as dcacn knows it before reading a byte of it.
struct DatasetInfo {
  std::string name;          ///< as --dataset takes it
  std::string default_path;  ///< where it is read from without --data; empty: --data needed
  std::string path_hint;     ///< what --data should point at, for messages
  int64_t image_size = 0;    ///< side of the images as read (image folders: the decoded size)
  int64_t channels = 0;      ///< 1 or 3 (image folders: as asked)
  /// Multi-crop views in --views syntax (docs/design.md section 5): globals at full size, locals at
  /// half size with stronger augmentation. parse_views turns it into a MultiCropSpec.
  std::string default_views;
  std::string cpu_preset;  ///< the preset sized for 2 CPU cores; empty: none
};

struct DatasetSpec {
  /// A dataset_names() entry.
  std::string name = "fashion-mnist";
  /// Folder with the files; empty means the dataset's default_path.
  std::string path;
  /// Which part to read; datasets are clustered as a whole by default.
  Split split = Split::kAll;
  /// Image folders only.
  ImageFolderOptions folder;
};

/// Names accepted by DatasetSpec::name.
const std::vector<std::string>& dataset_names();

/// The descriptor of dataset `name` (image folders: size and channels from `folder`; their
/// default views scale with the size). Throws InputError for an unknown name.
DatasetInfo dataset_info(const std::string& name, const ImageFolderOptions& folder = {});

/// Reads the dataset; throws InputError with a readable message on any bad input.
Dataset load_dataset(const DatasetSpec& spec);

}  // namespace dcacn
