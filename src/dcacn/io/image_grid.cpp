#include "dcacn/io/image_grid.h"

#include <stb_image_write.h>
#include <torch/nn/functional/upsampling.h>

#include <cstdio>
#include <filesystem>

#include "dcacn/util/error.h"

namespace dcacn {

torch::Tensor make_grid(const std::vector<torch::Tensor>& columns, int64_t cell, int64_t pad) {
  TORCH_CHECK(!columns.empty(), "make_grid: no columns");
  const int64_t rows = columns.front().size(0);
  int64_t channels = 1;
  for (const auto& c : columns) {
    TORCH_CHECK(c.dim() == 4 && c.size(0) == rows, "make_grid: every column needs [", rows,
                ", C, h, w], got ", c.sizes());
    channels = std::max(channels, c.size(1));
  }
  const int64_t ncols = static_cast<int64_t>(columns.size());
  torch::Tensor grid =
      torch::ones({channels, rows * cell + (rows + 1) * pad, ncols * cell + (ncols + 1) * pad});
  namespace F = torch::nn::functional;
  for (int64_t j = 0; j < ncols; ++j) {
    torch::Tensor tiles = columns[j].to(torch::kCPU, torch::kFloat32);
    if (tiles.size(1) != channels)
      tiles = tiles.expand({rows, channels, tiles.size(2), tiles.size(3)});
    tiles = F::interpolate(
        tiles,
        F::InterpolateFuncOptions().size(std::vector<int64_t>{cell, cell}).mode(torch::kNearest));
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t top = pad + i * (cell + pad), left = pad + j * (cell + pad);
      grid.slice(1, top, top + cell).slice(2, left, left + cell).copy_(tiles[i]);
    }
  }
  return grid.clamp(0, 1).mul(255).round().to(torch::kUInt8);
}

namespace {

void check_png_image(const torch::Tensor& image) {
  TORCH_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) &&
                  image.scalar_type() == torch::kUInt8,
              "PNG output: expected uint8 [1 or 3, H, W], got ", image.sizes(), " ",
              image.scalar_type());
}

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}

}  // namespace

std::string encode_png(const torch::Tensor& image) {
  check_png_image(image);
  const torch::Tensor hwc = image.permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1));
  const int c = static_cast<int>(hwc.size(2));
  std::string out;
  TORCH_CHECK(
      stbi_write_png_to_func(append_bytes, &out, w, h, c, hwc.data_ptr<uint8_t>(), w * c) != 0,
      "PNG encoding failed");
  return out;
}

void write_png(const std::string& path, const torch::Tensor& image) {
  check_png_image(image);
  const torch::Tensor hwc = image.permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1));
  const int c = static_cast<int>(hwc.size(2));
  const std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  const std::string tmp = path + ".tmp";
  DCACN_CHECK(stbi_write_png(tmp.c_str(), w, h, c, hwc.data_ptr<uint8_t>(), w * c) != 0,
              "cannot write PNG ", path);
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  DCACN_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

}  // namespace dcacn
