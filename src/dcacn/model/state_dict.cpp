#include "dcacn/model/state_dict.h"

#include <torch/serialize.h>

#include <map>
#include <sstream>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/pickle.h"

namespace dcacn {
namespace {

std::string shape(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

// Up to `limit` entries of a list, then "and N more".
std::string first_few(const std::vector<std::string>& items, size_t limit = 8) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? "; " : "") + items[i];
  if (items.size() > limit) out += c10::str("; and ", items.size() - limit, " more");
  return out;
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> state_dict(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters())
    out.emplace_back(item.key(), item.value().detach());
  for (const auto& item : module.named_buffers())
    out.emplace_back(item.key(), item.value().detach());
  return out;
}

void save_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  const std::string& path) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) {
    dict.insert(name, tensor.detach().to(torch::kCPU).contiguous());
  }
  write_pickle(path, dict);
}

void save_state_dict(const torch::nn::Module& module, const std::string& path) {
  save_tensors(state_dict(module), path);
}

std::vector<std::pair<std::string, torch::Tensor>> read_state_dict(const std::string& path) {
  const c10::IValue value = read_pickle(
      path, "cannot read " + path + " as a weights file (a torch.save'd dict of tensors)");
  DCACN_CHECK(value.isGenericDict(), path, " holds a ", value.tagKind(),
              ", expected a dict of name -> tensor");
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& entry : value.toGenericDict()) {
    DCACN_CHECK(entry.key().isString() && entry.value().isTensor(), path,
                " holds an entry that is not name -> tensor (", entry.key().tagKind(), " -> ",
                entry.value().tagKind(), ")");
    out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}

void load_state_dict(torch::nn::Module& module, const std::string& path) {
  load_state_dict(module, read_state_dict(path), path);
}

void load_state_dict(torch::nn::Module& module,
                     const std::vector<std::pair<std::string, torch::Tensor>>& file,
                     const std::string& path) {
  std::map<std::string, torch::Tensor> from_file(file.begin(), file.end());
  const auto model = state_dict(module);
  std::vector<std::string> missing, unexpected, mismatched;
  std::map<std::string, bool> in_model;
  for (const auto& [name, tensor] : model) {
    in_model[name] = true;
    auto it = from_file.find(name);
    if (it == from_file.end()) {
      missing.push_back(name);
    } else if (it->second.sizes() != tensor.sizes()) {
      mismatched.push_back(name + ": file " + shape(it->second) + ", model " + shape(tensor));
    }
  }
  for (const auto& [name, tensor] : file) {
    if (!in_model.count(name)) unexpected.push_back(name + " " + shape(tensor));
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string message = "weights in " + path + " do not match the model:";
    if (!mismatched.empty()) {
      message +=
          c10::str("\n  ", mismatched.size(), " with a different shape: ", first_few(mismatched));
    }
    if (!missing.empty()) {
      message += c10::str("\n  ", missing.size(), " missing from the file: ", first_few(missing));
    }
    if (!unexpected.empty()) {
      message += c10::str("\n  ", unexpected.size(), " not in the model: ", first_few(unexpected));
    }
    throw InputError(message);
  }
  torch::NoGradGuard no_grad;
  for (auto [name, tensor] : model) {
    // `tensor` is a detached alias of the module's storage: copying into it updates the module.
    tensor.copy_(from_file.at(name));
  }
}

}  // namespace dcacn
