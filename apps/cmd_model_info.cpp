// dcacn model-info: layer summary, parameter counts and forward FLOPs of a DCACN network.

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn::cli {
namespace {

struct ModelInfoParams {
  std::string arch = "resnet34";   // resnet18 | resnet34 | resnet50
  std::string attention = "cbam";  // cbam | none
  std::string stem = "auto";       // auto | cifar | imagenet
  int64_t image_size = 32;         // input side in pixels
  int64_t channels = 3;            // image channels
  int64_t width = 64;              // base channels of the backbone
  int64_t clusters = 10;           // K
  bool json = false;
  uint64_t seed = 0;         // initialisation seed
  std::string save_weights;  // write the initialised state dict here
  std::string save_example;  // write an input batch and its eval-mode outputs here
};

int64_t parse_arch(const std::string& arch) {
  if (arch == "resnet18") return 18;
  if (arch == "resnet34") return 34;
  if (arch == "resnet50") return 50;
  throw InputError("unknown --arch '" + arch + "': expected resnet18, resnet34 or resnet50");
}

std::string mflops(int64_t flops) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f", static_cast<double>(flops) / 1e6);
  return buffer;
}

int run_model_info(const ModelInfoParams& p) {
  DCACN_CHECK(p.image_size >= 8 && p.image_size <= 1024, "--image-size must be in 8..1024, got ",
              p.image_size);
  DCACN_CHECK(p.channels >= 1, "--channels must be positive, got ", p.channels);
  DCACN_CHECK(p.width >= 1, "--width must be positive, got ", p.width);
  DCACN_CHECK(p.clusters >= 2, "--clusters must be at least 2, got ", p.clusters);
  const auto options = DCACNOptions()
                           .depth(parse_arch(p.arch))
                           .attention(parse_attention(p.attention))
                           .stem(p.stem)
                           .image_size(p.image_size)
                           .in_channels(p.channels)
                           .width(p.width)
                           .clusters(p.clusters);
  options.resolved_stem();  // validates --stem
  torch::manual_seed(p.seed);
  DCACN model(options);
  if (!p.save_weights.empty()) save_state_dict(*model, p.save_weights);
  if (!p.save_example.empty()) {
    // A reference for other implementations: 4 images and what this model makes of them.
    model->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor input = torch::rand({4, p.channels, p.image_size, p.image_size});
    const DCACNOutput out = model->forward(input);
    save_tensors({{"input", input},
                  {"features", out.features},
                  {"embedding", out.embedding},
                  {"probabilities", out.probabilities}},
                 p.save_example);
  }
  const auto stages = model->backbone->summarize(p.image_size, p.image_size);
  const ParameterCounts counts = count_parameters(*model);
  const int64_t flops = forward_flops(*model, p.image_size);
  const int64_t d = model->backbone->feature_dim();

  if (p.json) {
    nlohmann::json out = {{"arch", p.arch},
                          {"attention", p.attention},
                          {"stem", stem_name(options.resolved_stem())},
                          {"image_size", p.image_size},
                          {"channels", p.channels},
                          {"width", p.width},
                          {"clusters", p.clusters},
                          {"feature_dim", d},
                          {"parameters",
                           {{"backbone_without_attention", counts.backbone_without_attention},
                            {"attention", counts.attention},
                            {"instance_head", counts.instance_head},
                            {"cluster_head", counts.cluster_head},
                            {"total", counts.total()}}},
                          {"forward_flops_per_image", flops}};
    for (const auto& s : stages) {
      out["stages"].push_back({{"name", s.name},
                               {"blocks", s.blocks},
                               {"output", {s.out_channels, s.out_h, s.out_w}},
                               {"parameters", s.parameters},
                               {"attention_parameters", s.attention_parameters},
                               {"flops", s.flops}});
    }
    std::cout << out.dump(2) << '\n';
    return 0;
  }
  std::printf("DCACN: %s, width %lld, attention %s, %s stem, input %lldx%lldx%lld, K = %lld\n\n",
              p.arch.c_str(), static_cast<long long>(p.width), p.attention.c_str(),
              stem_name(options.resolved_stem()).c_str(), static_cast<long long>(p.channels),
              static_cast<long long>(p.image_size), static_cast<long long>(p.image_size),
              static_cast<long long>(p.clusters));
  std::printf("%-14s %6s %16s %14s %14s %10s\n", "part", "blocks", "output (CxHxW)", "parameters",
              "of them CBAM", "MFLOPs");
  for (const auto& s : stages) {
    const std::string shape = std::to_string(s.out_channels) + "x" + std::to_string(s.out_h) + "x" +
                              std::to_string(s.out_w);
    std::printf("%-14s %6s %16s %14s %14s %10s\n", s.name.c_str(),
                s.blocks ? std::to_string(s.blocks).c_str() : "", shape.c_str(),
                with_thousands(s.parameters).c_str(),
                with_thousands(s.attention_parameters).c_str(), mflops(s.flops).c_str());
  }
  const int64_t inst_flops = 2 * (d * d + d * options.embedding_dim());
  const int64_t clus_flops = 2 * (d * d + d * p.clusters);
  std::printf("%-14s %6s %16s %14s %14s %10s\n", "pool", "", std::to_string(d).c_str(), "0", "0",
              "0.0");
  std::printf("%-14s %6s %16s %14s %14s %10s\n", "instance head", "",
              std::to_string(options.embedding_dim()).c_str(),
              with_thousands(counts.instance_head).c_str(), "0", mflops(inst_flops).c_str());
  std::printf("%-14s %6s %16s %14s %14s %10s\n", "cluster head", "",
              std::to_string(p.clusters).c_str(), with_thousands(counts.cluster_head).c_str(), "0",
              mflops(clus_flops).c_str());
  std::printf("\nparameters: backbone %s + CBAM %s + instance head %s + cluster head %s = %s\n",
              with_thousands(counts.backbone_without_attention).c_str(),
              with_thousands(counts.attention).c_str(),
              with_thousands(counts.instance_head).c_str(),
              with_thousands(counts.cluster_head).c_str(), with_thousands(counts.total()).c_str());
  std::printf(
      "forward FLOPs per image: %.3f GFLOPs (2 per multiply-add; convolutions, linear "
      "layers and attention, not BatchNorm/ReLU/pooling)\n",
      static_cast<double>(flops) / 1e9);
  return 0;
}

}  // namespace

CommandRunner register_model_info(CLI::App& app) {
  auto params = std::make_shared<ModelInfoParams>();
  CLI::App* cmd =
      app.add_subcommand("model-info", "layer summary, parameter counts and FLOPs of the network");
  cmd->add_option("--arch", params->arch, "resnet18 | resnet34 | resnet50")->capture_default_str();
  cmd->add_option("--attention", params->attention, "cbam | none")->capture_default_str();
  cmd->add_option("--stem", params->stem, "auto (cifar up to 64 px) | cifar | imagenet")
      ->capture_default_str();
  cmd->add_option("--image-size", params->image_size, "input side in pixels")
      ->capture_default_str();
  cmd->add_option("--channels", params->channels, "image channels")->capture_default_str();
  cmd->add_option("--width", params->width, "base channels of the backbone")->capture_default_str();
  cmd->add_option("--clusters", params->clusters, "number of clusters K")->capture_default_str();
  cmd->add_flag("--json", params->json, "print as JSON");
  cmd->add_option("--seed", params->seed, "initialisation seed")->capture_default_str();
  cmd->add_option("--save-weights", params->save_weights,
                  "write the initialised weights (a state dict torch.load reads)");
  cmd->add_option("--save-example", params->save_example,
                  "write 4 random images and the eval-mode outputs for them (input, features, "
                  "embedding, probabilities)");
  return [params] { return run_model_info(*params); };
}

}  // namespace dcacn::cli
