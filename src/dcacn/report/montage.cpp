#include "dcacn/report/montage.h"

#include "dcacn/augment/transforms.h"
#include "dcacn/io/image_grid.h"

namespace dcacn {

std::vector<std::vector<int64_t>> most_confident(const torch::Tensor& assigned,
                                                 const torch::Tensor& confidence, int64_t k,
                                                 int64_t per) {
  std::vector<std::vector<int64_t>> best(k);
  const torch::Tensor order = confidence.argsort(0, /*descending=*/true);
  const auto id = assigned.accessor<int64_t, 1>();
  const auto ord = order.accessor<int64_t, 1>();
  for (int64_t i = 0; i < assigned.size(0); ++i) {
    auto& list = best[id[ord[i]]];
    if (static_cast<int64_t>(list.size()) < per) list.push_back(ord[i]);
  }
  return best;
}

void write_montages(ReportWriter& w, const Dataset& data,
                    const std::vector<std::vector<int64_t>>& best,
                    const std::vector<int64_t>& order, int64_t per) {
  const int64_t side = data.height();
  const int64_t cell = side < 48 ? 2 * side : side;
  const torch::Tensor blank = torch::ones({1, data.channels(), side, side});
  // The cluster's col-th image, or a blank tile.
  auto tile = [&](int64_t cluster, int64_t col) {
    if (col >= static_cast<int64_t>(best[cluster].size())) return blank;
    const int64_t index = best[cluster][col];
    return eval_transform(data.images.slice(0, index, index + 1), side);
  };
  std::vector<torch::Tensor> columns(per);
  for (int64_t col = 0; col < per; ++col) {
    std::vector<torch::Tensor> cells;
    for (int64_t j : order) cells.push_back(tile(j, col));
    columns[col] = torch::cat(cells);
  }
  write_png(w.path("montage.png"), make_grid(columns, cell));
  w.add("montage.png");
  for (int64_t j : order) {
    // One row: make_grid puts each batch in a column, so give it one single-image batch each.
    std::vector<torch::Tensor> strip;
    for (int64_t col = 0; col < per; ++col) strip.push_back(tile(j, col));
    const std::string name = "cluster_" + std::to_string(j) + ".png";
    write_png(w.path(name), make_grid(strip, cell));
    w.add(name);
  }
}

}  // namespace dcacn
