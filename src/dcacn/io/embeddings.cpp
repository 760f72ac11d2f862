#include "dcacn/io/embeddings.h"

#include <torch/serialize.h>

#include <cstdio>
#include <sstream>

#include "dcacn/io/predictions.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/pickle.h"

namespace dcacn {
namespace {

constexpr const char* kFormat = "dcacn-embeddings-1";

c10::List<std::string> string_list(const std::vector<std::string>& v) {
  c10::List<std::string> out;
  for (const auto& s : v) out.push_back(s);
  return out;
}

}  // namespace

void write_embeddings_pt(const std::string& path, const Embeddings& e) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", std::string(kFormat));
  dict.insert("checkpoint", e.checkpoint);
  for (const auto& [name, t] :
       {std::pair<const char*, const torch::Tensor*>{"features", &e.features},
        {"embeddings", &e.embeddings},
        {"probabilities", &e.probabilities},
        {"clusters", &e.clusters},
        {"labels", &e.labels}}) {
    if (t->defined()) dict.insert(name, t->to(torch::kCPU).contiguous());
  }
  if (!e.paths.empty()) dict.insert("paths", string_list(e.paths));
  if (!e.class_names.empty()) dict.insert("class_names", string_list(e.class_names));
  write_pickle(path, dict);
}

void write_embeddings_csv(const std::string& path, const Embeddings& e) {
  ExtraColumns extra;
  std::vector<torch::Tensor> blocks;
  for (const auto& [prefix, t] : {std::pair<const char*, torch::Tensor>{"p_", e.probabilities},
                                  {"e_", e.embeddings},
                                  {"f_", e.features}}) {
    if (!t.defined()) continue;
    blocks.push_back(t.to(torch::kCPU, torch::kFloat).contiguous());
    for (int64_t j = 0; j < t.size(1); ++j) extra.names.push_back(prefix + std::to_string(j));
  }
  extra.row = [&](int64_t i, std::string& line) {
    char number[32];
    for (const auto& t : blocks) {
      const float* row = t.data_ptr<float>() + i * t.size(1);
      for (int64_t j = 0; j < t.size(1); ++j) {
        std::snprintf(number, sizeof(number), ",%.7g", row[j]);
        line += number;
      }
    }
  };
  write_predictions_csv(path, e.clusters, e.labels, e.paths, extra);
}

Embeddings read_embeddings_pt(const std::string& path) {
  const c10::IValue value = read_pickle(path, path + " is damaged or not an embeddings file");
  DCACN_CHECK(value.isGenericDict(), path, " holds a ", value.tagKind(), ", expected a dict");
  const auto dict = value.toGenericDict();
  DCACN_CHECK(dict.contains("format") && dict.at("format").isString() &&
                  dict.at("format").toStringRef() == kFormat,
              path, " is not a dcacn embeddings file (format '", kFormat, "')");
  Embeddings e;
  e.checkpoint = dict.at("checkpoint").toStringRef();
  auto tensor = [&](const char* key) {
    return dict.contains(key) ? dict.at(key).toTensor() : torch::Tensor();
  };
  e.features = tensor("features");
  e.embeddings = tensor("embeddings");
  e.probabilities = tensor("probabilities");
  e.clusters = tensor("clusters");
  e.labels = tensor("labels");
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    if (dict.contains(key)) {
      for (const auto& v : dict.at(key).toListRef()) out.push_back(v.toStringRef());
    }
    return out;
  };
  e.paths = strings("paths");
  e.class_names = strings("class_names");
  return e;
}

}  // namespace dcacn
