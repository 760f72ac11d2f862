#include "dcacn/run/checkpoint.h"

#include <torch/serialize.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstring>
#include <sstream>

#include "dcacn/run/setup.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/pickle.h"

namespace dcacn {
namespace {

constexpr const char* kFormat = "dcacn-checkpoint";
constexpr const char* kFormatV1 = "dcacn-checkpoint-1";

torch::Tensor bytes_tensor(const std::string& bytes) {
  torch::Tensor out = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(out.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return out;
}

// Version 1 recorded no network: its input channels come from the first convolution's weight
// [width, in_channels, k, k] and its input size from the configuration's views.
DCACNOptions legacy_network(const Checkpoint& c, const std::string& path) {
  int64_t in_channels = 0;
  for (const auto& [name, tensor] : c.model) {
    if (name == "backbone.conv1.weight" && tensor.dim() == 4) in_channels = tensor.size(1);
  }
  DCACN_CHECK(in_channels > 0, "checkpoint ", path,
              " holds no backbone.conv1.weight: not a DCACN checkpoint");
  const int64_t image_size = view_spec(c.config).global.front().size;
  DCACNOptions o = model_options(c.config, in_channels, image_size);
  return o.stem(stem_name(o.resolved_stem()));
}

}  // namespace

nlohmann::json model_record_json(const DCACNOptions& o) {
  return {{"architecture", architecture_name(o.depth())},
          {"width", o.width()},
          {"attention", attention_name(o.attention())},
          {"cbam_reduction", o.reduction()},
          {"cbam_min_hidden", o.min_hidden()},
          {"stem", stem_name(o.resolved_stem())},
          {"in_channels", o.in_channels()},
          {"image_size", o.image_size()},
          {"clusters", o.clusters()},
          {"embedding_dim", o.embedding_dim()}};
}

DCACNOptions model_record_from_json(const nlohmann::json& r, const std::string& source) {
  try {
    DCACNOptions o;
    o.depth(parse_architecture(r.at("architecture").get<std::string>()))
        .width(r.at("width").get<int64_t>())
        .attention(parse_attention(r.at("attention").get<std::string>()))
        .reduction(r.at("cbam_reduction").get<int64_t>())
        .min_hidden(r.at("cbam_min_hidden").get<int64_t>())
        .stem(r.at("stem").get<std::string>())
        .in_channels(r.at("in_channels").get<int64_t>())
        .image_size(r.at("image_size").get<int64_t>())
        .clusters(r.at("clusters").get<int64_t>())
        .embedding_dim(r.at("embedding_dim").get<int64_t>());
    DCACN_CHECK(o.width() >= 1 && o.clusters() >= 2 && o.image_size() >= 4 &&
                    (o.in_channels() == 1 || o.in_channels() == 3) && o.embedding_dim() >= 1,
                "out-of-range values");
    o.resolved_stem();  // validates the stem's name
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(c10::str("checkpoint ", source, " holds a damaged model record: ", e.what()));
  } catch (const InputError& e) {
    throw InputError(
        c10::str("checkpoint ", source, " holds a bad model record (", r.dump(), "): ", e.what()));
  }
}

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
  dict.insert("format_version", kCheckpointFormatVersion);
  dict.insert("model_record", model_record_json(c.network).dump());
  dict.insert("config", c.config.to_json().dump());
  dict.insert("epoch", c.epoch);
  dict.insert("batch_in_epoch", c.batch_in_epoch);
  dict.insert("step", c.step);
  dict.insert("train_seconds", c.train_seconds);
  dict.insert("model", model);
  dict.insert("optimizer", c.optimizer.to(torch::kCPU));
  dict.insert("augment_rng", c.augment_rng.to(torch::kCPU));
  dict.insert("loss_sums", torch::tensor(c.loss_sums, torch::kFloat64));
  dict.insert("loss_steps", c.loss_steps);
  dict.insert("stage", c.stage);
  dict.insert("stage_start_step", c.stage_start_step);
  dict.insert("stage_start_seconds", c.stage_start_seconds);
  dict.insert("pipeline", c.pipeline);
  dict.insert("stage_index", c.stage_index);
  dict.insert("stage_started", c.stage_started);
  dict.insert("stage_start_epoch", c.stage_start_epoch);
  dict.insert("metrics_rows", c.metrics_rows);
  dict.insert("pseudo_labels", c.pseudo_labels.defined() ? c.pseudo_labels.to(torch::kCPU)
                                                         : torch::zeros({0, 2}, torch::kInt64));
  c10::Dict<std::string, torch::Tensor> stage_state;
  for (const auto& [name, tensor] : c.stage_state) stage_state.insert(name, tensor.cpu());
  dict.insert("stage_state", stage_state);
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
  const torch::IValue format = get("format");
  const std::string name = format.isString() ? format.toStringRef() : "?";
  Checkpoint c;
  if (name == kFormatV1) {
    c.format_version = 1;
  } else {
    DCACN_CHECK(name == kFormat, "checkpoint ", path, " has format '", name, "', expected '",
                kFormat, "'");
    const torch::IValue version = get("format_version");
    DCACN_CHECK(
        version.isInt() && version.toInt() >= 2 && version.toInt() <= kCheckpointFormatVersion,
        "checkpoint ", path, " has format version ",
        version.isInt() ? std::to_string(version.toInt()) : "?",
        "; this dcacn reads versions 1 to ", kCheckpointFormatVersion,
        " (a newer dcacn wrote it?)");
    c.format_version = version.toInt();
  }
  try {
    c.config = TrainConfig::from_json(nlohmann::json::parse(get("config").toStringRef()));
    c.epoch = get("epoch").toInt();
    c.batch_in_epoch = get("batch_in_epoch").toInt();
    c.step = get("step").toInt();
    c.train_seconds = get("train_seconds").toDouble();
    if (c.format_version <= 3) c.best_acc = get("best_acc").toDouble();
    for (const auto& entry : get("model").toGenericDict()) {
      c.model.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
    }
    c.optimizer = get("optimizer").toTensor();
    c.augment_rng = get("augment_rng").toTensor();
    if (c.format_version >= 2) {
      const torch::Tensor sums = get("loss_sums").toTensor().to(torch::kFloat64).contiguous();
      DCACN_CHECK(sums.numel() == 4, "checkpoint ", path, " has ", sums.numel(),
                  " loss sums, expected 4");
      c.loss_sums.assign(sums.data_ptr<double>(), sums.data_ptr<double>() + 4);
      c.loss_steps = get("loss_steps").toInt();
    }
    if (c.format_version >= 3) {
      c.stage = get("stage").toInt();
      const int64_t last_kind = c.format_version >= 5 ? 4 : 3;
      DCACN_CHECK(c.stage >= 1 && c.stage <= last_kind, "checkpoint ", path, " is in stage ",
                  c.stage, ", expected 1 to ", last_kind);
      c.stage_start_step = get("stage_start_step").toInt();
      c.stage_start_seconds = get("stage_start_seconds").toDouble();
    }
    if (c.format_version == 3) {
      const torch::Tensor counts = get("pseudo_counts").toTensor();
      if (counts.numel() > 0) c.pseudo_counts = counts;
    }
    if (c.format_version <= 3) c.metrics_rows = -1;
    if (c.format_version >= 4) {
      c.pipeline = get("pipeline").toStringRef();
      c.stage_index = get("stage_index").toInt();
      c.stage_started = get("stage_started").toBool();
      c.stage_start_epoch = get("stage_start_epoch").toInt();
      c.metrics_rows = get("metrics_rows").toInt();
      const torch::Tensor pairs = get("pseudo_labels").toTensor();
      DCACN_CHECK(pairs.dim() == 2 && pairs.size(1) == 2 && pairs.scalar_type() == torch::kInt64,
                  "checkpoint ", path, " has pseudo-labels of shape ", pairs.sizes(), " ",
                  pairs.scalar_type(), ", expected int64 [M, 2]");
      DCACN_CHECK(c.stage_index >= 0 && c.metrics_rows >= 0, "checkpoint ", path,
                  " has a negative stage index or row count");
      if (pairs.size(0) > 0) c.pseudo_labels = pairs;
    }
    if (c.format_version >= 5) {
      for (const auto& entry : get("stage_state").toGenericDict()) {
        c.stage_state.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
      }
    }
    c.network = c.format_version == 1
                    ? legacy_network(c, path)
                    : model_record_from_json(
                          nlohmann::json::parse(get("model_record").toStringRef()), path);
  } catch (const c10::Error& e) {
    throw InputError(c10::str("checkpoint ", path,
                              " has an entry of the wrong type: ", e.what_without_backtrace()));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(c10::str("checkpoint ", path, " holds a damaged configuration: ", e.what()));
  }
  return c;
}

}  // namespace dcacn
