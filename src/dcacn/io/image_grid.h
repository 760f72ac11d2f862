#pragma once
// Image montages and PNG output (stb_image_write), for previews and reports.

#include <torch/types.h>

#include <string>
#include <vector>

namespace dcacn {

/// Lays out `columns` (each a float [B, C, h, w] batch in [0, 1]; sizes may differ) as a grid
/// with one row per image and one column per batch. Every tile is scaled (nearest neighbour)
/// to cell x cell, with `pad` white pixels between tiles. Returns uint8 [C, H, W].
torch::Tensor make_grid(const std::vector<torch::Tensor>& columns, int64_t cell, int64_t pad = 2);

/// Writes uint8 [C, H, W] (C = 1 or 3) as a PNG, through a temporary file and a rename.
void write_png(const std::string& path, const torch::Tensor& image);

/// The PNG file's bytes of uint8 [C, H, W] (C = 1 or 3), in memory.
std::string encode_png(const torch::Tensor& image);

}  // namespace dcacn
