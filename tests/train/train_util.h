#pragma once
// The tiny training run of the tests, on test::write_two_square_idx data.

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "dcacn/run/config.h"

namespace dcacn::test {

/// ResNet-18 at width 4, two clusters, batches of 32 with 2x12 + 2x6 views, 2 epochs on the CPU,
/// on the MNIST-format data in `data_dir`.
inline TrainConfig tiny_train_config(const std::string& data_dir) {
  TrainConfig c;
  c.dataset = "mnist";
  c.data_path = data_dir;
  c.split = "train";
  c.depth = 18;
  c.width = 4;
  c.clusters = 2;
  c.batch_size = 32;
  c.views = "2x12@0.5-1,2x6@0.2-0.5";
  c.epochs = 2;
  c.lr = 1e-3;
  c.eval_batch_size = 64;
  c.device =
      "cpu";  // the bit-identity the trainer's tests check is the CPU's (tests/cuda for CUDA)
  return c;
}

/// metrics.csv as rows of named fields.
inline std::vector<std::map<std::string, std::string>> read_metrics(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string f; std::getline(hs, f, ',');) header.push_back(f);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::map<std::string, std::string> row;
    size_t i = 0;
    for (std::string f; std::getline(ls, f, ',') && i < header.size(); ++i) row[header[i]] = f;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace dcacn::test
