#pragma once
// CIFAR-10 and CIFAR-100 in their binary ("-bin") distributions.
//
// CIFAR-10 record: 1 label byte + 3072 pixel bytes (R plane, G plane, B plane, each 32x32
// row-major); files data_batch_{1..5}.bin (train) and test_batch.bin, 10,000 records each.
// CIFAR-100 record: 1 coarse + 1 fine label byte + 3072 pixel bytes; train.bin (50,000) and
// test.bin (10,000). Clustering uses the 20 coarse ("superclass") labels.

#include <string>

#include "dcacn/data/dataset.h"

namespace dcacn {

/// `root` is the cifar-10-batches-bin folder or the folder that contains it.
Dataset load_cifar10(const std::string& root, Split split);

/// `root` is the cifar-100-binary folder or the folder that contains it.
Dataset load_cifar100(const std::string& root, Split split);

}  // namespace dcacn
