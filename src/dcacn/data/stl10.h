#pragma once
// STL-10 binary distribution (stl10_binary/).
//
// {train,test,unlabeled}_X.bin: 96x96x3 uint8 images, each channel plane stored column-major
// (the reader transposes to row-major); {train,test}_y.bin: one label byte per image, 1..10
// (the reader maps them to 0..9). Official counts: train 5,000, test 8,000, unlabeled 100,000.

#include <string>

#include "dcacn/data/dataset.h"

namespace dcacn {

/// `root` is the stl10_binary folder or the folder that contains it. Split kAll is
/// train + test (13,000 labelled images); kUnlabeled reads unlabeled_X.bin (no labels).
Dataset load_stl10(const std::string& root, Split split);

}  // namespace dcacn
