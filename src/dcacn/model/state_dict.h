#pragma once
// Weights on disk as a PyTorch state dict: a pickled {name: tensor} dictionary written with
// torch::pickle_save, which Python's torch.load reads as a plain dict. Names are PyTorch's
// dotted paths ("backbone.layer1.0.cbam.channel_gate.mlp.0.weight"); parameters and buffers
// (BatchNorm running statistics) are both saved, as in module.state_dict().

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace dcacn {

/// Parameters then buffers, in registration order, detached.
std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& module);

/// Writes named tensors (moved to CPU) as a pickled dict that torch.load reads, atomically.
void save_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  const std::string& path);

/// Writes the state dict of `module` (on CPU) to `path` through a temporary file and a rename.
void save_state_dict(const torch::nn::Module& module, const std::string& path);

/// Reads a {name: tensor} file written by save_state_dict or by Python's
/// torch.save(model.state_dict(), path) with the same names.
std::vector<std::pair<std::string, torch::Tensor>> read_state_dict(const std::string& path);

/// Copies named tensors (from `source`, named in messages) into `module`, with the checks of
/// load_state_dict below.
void load_state_dict(torch::nn::Module& module,
                     const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                     const std::string& source);

/// Copies the tensors of `path` into `module`. Every name and shape must match; otherwise
/// nothing is copied and an InputError lists the missing, unexpected and mis-shaped tensors.
void load_state_dict(torch::nn::Module& module, const std::string& path);

}  // namespace dcacn
