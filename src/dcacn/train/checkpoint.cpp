#include "dcacn/train/checkpoint.h"

#include <torch/serialize.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstring>
#include <sstream>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/pickle.h"

namespace dcacn {
namespace {

constexpr const char* kFormat = "dcacn-checkpoint-1";

torch::Tensor bytes_tensor(const std::string& bytes) {
  torch::Tensor out = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(out.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return out;
}

}  // namespace

torch::Tensor optimizer_bytes(torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return bytes_tensor(out.str());
}

void load_optimizer_bytes(torch::optim::Optimizer& optimizer, const torch::Tensor& bytes,
                          const std::string& source) {
  const torch::Tensor cpu = bytes.to(torch::kCPU).contiguous();
  std::istringstream in(std::string(reinterpret_cast<const char*>(cpu.data_ptr<uint8_t>()),
                                    static_cast<size_t>(cpu.numel())));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    throw InputError(c10::str("the optimizer state in ", source,
                              " cannot be restored: ", e.what_without_backtrace()));
  }
}

void save_checkpoint(const Checkpoint& c, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> model;
  for (const auto& [name, tensor] : c.model) model.insert(name, tensor.detach().to(torch::kCPU));
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", std::string(kFormat));
  dict.insert("config", c.config.to_json().dump());
  dict.insert("epoch", c.epoch);
  dict.insert("batch_in_epoch", c.batch_in_epoch);
  dict.insert("step", c.step);
  dict.insert("train_seconds", c.train_seconds);
  dict.insert("best_acc", c.best_acc);
  dict.insert("model", model);
  dict.insert("optimizer", c.optimizer.to(torch::kCPU));
  dict.insert("augment_rng", c.augment_rng.to(torch::kCPU));
  write_pickle(path, dict);
}

Checkpoint load_checkpoint(const std::string& path) {
  const torch::IValue value =
      read_pickle(path, "checkpoint " + path + " is damaged or not a checkpoint");
  DCACN_CHECK(value.isGenericDict(), "checkpoint ", path, " holds a ", value.tagKind(),
              ", expected a dcacn checkpoint dict");
  const auto dict = value.toGenericDict();
  auto get = [&](const char* key) -> torch::IValue {
    DCACN_CHECK(dict.contains(key), "checkpoint ", path, " has no '", key,
                "' entry: not a dcacn checkpoint, or from an incompatible version");
    return dict.at(key);
  };
  DCACN_CHECK(get("format").isString() && get("format").toStringRef() == kFormat, "checkpoint ",
              path, " has format '", get("format").isString() ? get("format").toStringRef() : "?",
              "', expected '", kFormat, "'");
  Checkpoint c;
  try {
    c.config = TrainConfig::from_json(nlohmann::json::parse(get("config").toStringRef()));
    c.epoch = get("epoch").toInt();
    c.batch_in_epoch = get("batch_in_epoch").toInt();
    c.step = get("step").toInt();
    c.train_seconds = get("train_seconds").toDouble();
    c.best_acc = get("best_acc").toDouble();
    for (const auto& entry : get("model").toGenericDict()) {
      c.model.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
    }
    c.optimizer = get("optimizer").toTensor();
    c.augment_rng = get("augment_rng").toTensor();
  } catch (const c10::Error& e) {
    throw InputError(c10::str("checkpoint ", path, " has an entry of the wrong type: ",
                              e.what_without_backtrace()));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(c10::str("checkpoint ", path, " holds a damaged configuration: ", e.what()));
  }
  return c;
}

}  // namespace dcacn
