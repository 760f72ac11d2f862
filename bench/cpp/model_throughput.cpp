// Forward+backward throughput of the DCACN network (benchmark, not a test). Prints one JSON
// object. The Python twin (bench/py/model_throughput.py) runs the identical procedure.

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "dcacn/model/dcacn_model.h"

int main(int argc, char** argv) {
  CLI::App app{"forward+backward images/s of DCACN"};
  int64_t width = 64, image_size = 32, channels = 3, batch = 128, steps = 3, warmup = 1;
  std::string attention = "cbam";
  bool channels_last = false;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  app.add_option("--width", width);
  app.add_option("--image-size", image_size);
  app.add_option("--channels", channels);
  app.add_option("--batch", batch);
  app.add_option("--steps", steps);
  app.add_option("--warmup", warmup);
  app.add_option("--attention", attention);
  app.add_option("--threads", threads);
  app.add_flag("--channels-last", channels_last);
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  torch::manual_seed(0);
  dcacn::DCACN model(dcacn::DCACNOptions()
                         .width(width)
                         .image_size(image_size)
                         .in_channels(channels)
                         .attention(dcacn::parse_attention(attention)));
  model->train();
  torch::Tensor x = torch::rand({batch, channels, image_size, image_size});
  if (channels_last) {
    dcacn::to_channels_last(*model);
    x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  auto step = [&] {
    model->zero_grad();
    const dcacn::DCACNOutput out = model->forward(x);
    (out.embedding.sum() + out.probabilities.pow(2).sum()).backward();
  };
  for (int64_t i = 0; i < warmup; ++i) step();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json out = {{"implementation", "c++"},
                        {"width", width},
                        {"attention", attention},
                        {"image_size", image_size},
                        {"batch", batch},
                        {"steps", steps},
                        {"threads", at::get_num_threads()},
                        {"channels_last", channels_last},
                        {"seconds_per_step", seconds / steps},
                        {"images_per_s", batch * steps / seconds},
                        {"forward_flops_per_image", dcacn::forward_flops(*model, image_size)}};
  std::cout << out.dump() << '\n';
  return 0;
}
