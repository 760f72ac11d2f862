#pragma once
// IDX files (MNIST, Fashion-MNIST), raw or gzipped.
//
// Layout: magic = 0x00 0x00 <type> <ndims>, then ndims big-endian uint32 sizes, then the
// data in row-major order. Only unsigned bytes (type 0x08) occur in image datasets.

#include <string>

#include "dcacn/data/dataset.h"

namespace dcacn {

/// Reads one IDX file of unsigned bytes with `expected_dims` dimensions into a uint8 tensor of
/// that shape. Throws InputError on a bad magic number, a wrong type or rank, or a byte count
/// that does not match the header (truncated or oversized).
torch::Tensor read_idx_ubyte(const std::string& path, int expected_dims);

/// Reads an images file ([N, H, W]) and a labels file ([N]) into a one-channel dataset.
Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path);

/// Which MNIST-style dataset a folder holds (only the class names differ).
enum class IdxFlavor { kMnist, kFashionMnist };

/// Reads `dir`/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] for the split
/// (train: 60,000; test: 10,000; all: both, train first).
Dataset load_idx_dataset(const std::string& dir, Split split, IdxFlavor flavor);

/// Where Debian's dataset-fashion-mnist package installs the files.
inline constexpr const char* kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace dcacn
