#include "dcacn/serve/server.h"

#include <httplib.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <unordered_map>

#include "dcacn/cluster/kmeans.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/io/predictions.h"
#include "dcacn/serve/assets.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

using json = nlohmann::json;

// A request the server refuses: its status and the message of {"error": ...}.
struct RequestError {
  int status;
  std::string message;
};

void send_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

// A non-negative integer query parameter; RequestError 400 when it is missing (without a
// default) or not a number in range.
int64_t int_param(const httplib::Request& req, const char* name, int64_t low, int64_t high,
                  int64_t fallback = -1) {
  if (!req.has_param(name)) {
    if (fallback >= 0) return fallback;
    throw RequestError{400, c10::str("missing parameter \"", name, "\"")};
  }
  const std::string text = req.get_param_value(name);
  const bool digits =
      !text.empty() && text.size() <= 18 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const int64_t value = digits ? std::stoll(text) : -1;
  if (!digits || value < low || value > high) {
    throw RequestError{400, c10::str("parameter \"", name, "\" must be an integer in ", low, "..",
                                     high, ", got \"", text.substr(0, 40), "\"")};
  }
  return value;
}

// An edit's integer field, or a list of integers; RequestError 400 naming the edit otherwise.
int64_t edit_integer(const json& request, const char* key, const std::string& op) {
  if (!request.contains(key) || !request[key].is_number_integer()) {
    throw RequestError{400, c10::str("a ", op, " needs \"", key, "\" as an integer")};
  }
  return request[key].get<int64_t>();
}

std::vector<int64_t> edit_integers(const json& request, const char* key, const std::string& op) {
  if (!request.contains(key) || !request[key].is_array()) {
    throw RequestError{400, c10::str("a ", op, " needs \"", key, "\" as a list of integers")};
  }
  std::vector<int64_t> out;
  for (const json& v : request[key]) {
    if (!v.is_number_integer()) {
      throw RequestError{400,
                         c10::str("\"", key, "\" holds integers, not ", v.dump().substr(0, 40))};
    }
    out.push_back(v.get<int64_t>());
  }
  return out;
}

int status_of(CurationError::Kind kind) {
  switch (kind) {
    case CurationError::Kind::kUnknown:
      return 404;
    case CurationError::Kind::kConflict:
      return 409;
    default:
      return 400;
  }
}

}  // namespace

std::string curation_csv(const Curation& curation, const torch::Tensor& labels,
                         const std::vector<std::string>& paths) {
  const std::vector<int64_t>& assignment = curation.assignment();
  const std::vector<std::string>& names = curation.names();
  ExtraColumns extra;
  extra.names = {"name"};
  extra.row = [&](int64_t i, std::string& line) { line += "," + csv_escape(names[assignment[i]]); };
  return predictions_csv(torch::tensor(assignment, torch::kInt64), labels, paths, extra);
}

struct CurationServer::Impl {
  ServeData data;
  ServerOptions options;
  torch::Tensor unit_features;  // [N, D] L2-normalised
  torch::Tensor confidence;     // [N] the model's top probability
  httplib::Server http;

  // Readers share curation_mutex; an edit holds edit_mutex throughout (edits apply one at a
  // time) and curation_mutex only to copy the curation and to swap in the saved result, so that
  // reads do not wait for the file to be written.
  mutable std::shared_mutex curation_mutex;
  std::mutex edit_mutex;
  Curation curation;

  mutable std::mutex thumb_mutex;
  std::unordered_map<int64_t, std::string> thumbs;
  size_t thumb_bytes = 0;

  int64_t images() const { return data.images.size(0); }
  // Image i's label (data.labels is int64 and contiguous once constructed).
  int64_t label(int64_t i) const { return data.labels.data_ptr<int64_t>()[i]; }

  json cluster_summary(const Curation& c) const;
  json state() const;
  json cluster_page(const httplib::Request& req) const;
  json image_detail(const httplib::Request& req) const;
  std::string thumbnail(int64_t index);
  std::string export_csv() const;
  json edit(const std::string& body);
  void routes();
};

json CurationServer::Impl::cluster_summary(const Curation& c) const {
  const std::vector<int64_t>& a = c.assignment();
  const bool labelled = data.labels.defined();
  std::vector<int64_t> size(c.id_bound(), 0);
  std::vector<std::map<int64_t, int64_t>> label_counts(labelled ? c.id_bound() : 0);
  const int64_t* labels = labelled ? data.labels.data_ptr<int64_t>() : nullptr;
  for (int64_t i = 0; i < c.images(); ++i) {
    ++size[a[i]];
    if (labelled) ++label_counts[a[i]][labels[i]];
  }
  json out = json::array();
  for (int64_t id : c.cluster_ids()) {
    json entry = {{"id", id}, {"name", c.name(id)}, {"size", size[id]}};
    if (labelled && size[id] > 0) {
      const auto best =
          std::max_element(label_counts[id].begin(), label_counts[id].end(),
                           [](const auto& x, const auto& y) { return x.second < y.second; });
      entry["purity"] = static_cast<double>(best->second) / size[id];
      entry["majority_label"] = best->first;
    }
    out.push_back(entry);
  }
  return out;
}

json CurationServer::Impl::state() const {
  json figures = json::array();
  for (const auto& entry : data.figures) figures.push_back(entry.first);
  std::shared_lock<std::shared_mutex> lock(curation_mutex);
  return {{"title", data.title},
          {"images", images()},
          {"model_clusters", data.probabilities.size(1)},
          {"labelled", data.labels.defined()},
          {"class_names", data.class_names},
          {"figures", figures},
          {"version", curation.version()},
          {"latest_edit", curation.latest_edit()},
          {"clusters", cluster_summary(curation)}};
}

json CurationServer::Impl::cluster_page(const httplib::Request& req) const {
  const int64_t per = int_param(req, "per", 1, options.max_page, 60);
  const int64_t page = int_param(req, "page", 0, int64_t(1) << 40, 0);
  std::vector<int64_t> members;
  int64_t id;
  std::string name;
  {
    std::shared_lock<std::shared_mutex> lock(curation_mutex);
    id = int_param(req, "id", 0, int64_t(1) << 40);
    if (!curation.exists(id)) throw RequestError{404, c10::str("cluster ", id, " does not exist")};
    members = curation.members(id);
    name = curation.name(id);
  }
  const float* conf = confidence.data_ptr<float>();
  std::stable_sort(members.begin(), members.end(),
                   [conf](int64_t x, int64_t y) { return conf[x] > conf[y]; });
  const int64_t size = static_cast<int64_t>(members.size());
  const int64_t pages = std::max<int64_t>(1, (size + per - 1) / per);
  json list = json::array();
  for (int64_t k = page * per; k < std::min(size, (page + 1) * per); ++k) {
    const int64_t i = members[k];
    json entry = {{"index", i}, {"confidence", conf[i]}};
    if (data.labels.defined()) entry["label"] = label(i);
    list.push_back(entry);
  }
  return {{"id", id},       {"name", name}, {"size", size},  {"page", page},
          {"pages", pages}, {"per", per},   {"images", list}};
}

json CurationServer::Impl::image_detail(const httplib::Request& req) const {
  const int64_t i = int_param(req, "index", 0, images() - 1);
  const int64_t k =
      std::min(int_param(req, "neighbours", 0, options.max_neighbours, 12), images() - 1);
  torch::Tensor values, ids;
  if (k > 0) {
    const torch::Tensor similarity = unit_features.matmul(unit_features[i]);
    similarity[i] = -2.0f;  // not its own neighbour
    std::tie(values, ids) = similarity.topk(k);
  }
  json out = {{"index", i}, {"neighbours", json::array()}};
  {
    std::shared_lock<std::shared_mutex> lock(curation_mutex);
    for (int64_t n = 0; n < k; ++n) {
      const int64_t j = ids.data_ptr<int64_t>()[n];
      out["neighbours"].push_back({{"index", j},
                                   {"similarity", values.data_ptr<float>()[n]},
                                   {"cluster", curation.assignment()[j]}});
    }
    out["cluster"] = curation.assignment()[i];
    out["model_cluster"] = curation.base()[i];
  }
  const torch::Tensor p = data.probabilities[i].contiguous();
  out["probabilities"] = std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  if (data.labels.defined()) out["label"] = label(i);
  if (!data.paths.empty()) out["path"] = data.paths[i];
  return out;
}

std::string CurationServer::Impl::thumbnail(int64_t index) {
  {
    std::lock_guard<std::mutex> lock(thumb_mutex);
    auto it = thumbs.find(index);
    if (it != thumbs.end()) return it->second;
  }
  std::string png = encode_png(data.images[index]);
  std::lock_guard<std::mutex> lock(thumb_mutex);
  auto [it, fresh] = thumbs.emplace(index, std::move(png));
  if (fresh) thumb_bytes += it->second.size();
  return it->second;
}

std::string CurationServer::Impl::export_csv() const {
  std::shared_lock<std::shared_mutex> lock(curation_mutex);
  return curation_csv(curation, data.labels, data.paths);
}

json CurationServer::Impl::edit(const std::string& body) {
  json request;
  try {
    request = json::parse(body);
  } catch (const json::exception& e) {
    throw RequestError{400, std::string("the body is not valid JSON: ") + e.what()};
  }
  if (!request.is_object() || !request.contains("op") || !request["op"].is_string()) {
    throw RequestError{400,
                       "the body is an object with \"op\": rename, merge, split, move or undo"};
  }
  const std::string op = request["op"].get<std::string>();
  std::lock_guard<std::mutex> one_edit_at_a_time(edit_mutex);
  // Edits go to a copy that replaces the curation only once its file is saved, so that a
  // refused edit or a failed save changes nothing.
  Curation next;
  {
    std::shared_lock<std::shared_mutex> read(curation_mutex);
    next = curation;
  }
  try {
    if (op == "split") {
      const int64_t id = edit_integer(request, "cluster", op);
      const int64_t k = edit_integer(request, "k", op);
      if (!next.exists(id)) throw RequestError{404, c10::str("cluster ", id, " does not exist")};
      const std::vector<int64_t> members = next.members(id);
      const int64_t most = std::min<int64_t>(options.max_split, members.size());
      if (k < 2 || k > most) {
        throw RequestError{400, c10::str("a split of cluster ", id, " (", members.size(),
                                         " images) takes k in 2..", most, ", got ", k)};
      }
      const torch::Tensor x =
          unit_features.index_select(0, torch::tensor(members, torch::kInt64)).contiguous();
      KMeansOptions ko;
      ko.k = k;
      ko.n_init = 3;
      ko.seed = options.seed;
      const torch::Tensor parts = kmeans(x, ko).labels.contiguous();
      next.split(id, std::vector<int64_t>(parts.data_ptr<int64_t>(),
                                          parts.data_ptr<int64_t>() + parts.numel()));
    } else if (op == "undo") {
      const json& target = request.value("expected", json());
      next.undo(target.is_number_integer() ? target.get<int64_t>() : -1);
    } else if (op == "rename") {
      if (!request.contains("name") || !request["name"].is_string()) {
        throw RequestError{400, "a rename needs \"name\" as a string"};
      }
      next.rename(edit_integer(request, "cluster", op), request["name"].get<std::string>());
    } else if (op == "merge") {
      next.merge(edit_integers(request, "clusters", op), edit_integer(request, "into", op));
    } else if (op == "move") {
      next.move(edit_integers(request, "images", op), edit_integer(request, "to", op));
    } else {
      throw RequestError{
          400, "unknown op \"" + op.substr(0, 40) + "\" (rename, merge, split, move or undo)"};
    }
  } catch (const CurationError& e) {
    throw RequestError{status_of(e.kind()), e.what()};
  }
  if (!options.curation_file.empty()) {
    try {
      next.save(options.curation_file);
    } catch (const std::exception& e) {
      throw RequestError{500, c10::str("the edit was not saved (", e.what(), "); nothing changed")};
    }
  }
  std::unique_lock<std::shared_mutex> write(curation_mutex);
  curation = std::move(next);
  return {{"version", curation.version()},
          {"latest_edit", curation.latest_edit()},
          {"edit", {{"id", curation.records().back()["id"]}, {"op", op}}}};
}

void CurationServer::Impl::routes() {
  // Every handler turns a RequestError into its status and {"error": ...}.
  const auto guarded = [](auto body) {
    return [body](const httplib::Request& req, httplib::Response& res) {
      try {
        body(req, res);
      } catch (const RequestError& e) {
        send_json(res, {{"error", e.message}}, e.status);
      }
    };
  };
  for (const Asset& asset : serve_assets()) {
    const std::string url = asset.path == "/index.html" ? "/" : asset.path;
    http.Get(url, [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_content(asset.body, asset.content_type.c_str());
    });
  }
  http.Get("/api/state", guarded([this](const httplib::Request&, httplib::Response& res) {
             send_json(res, state());
           }));
  http.Get("/api/cluster", guarded([this](const httplib::Request& req, httplib::Response& res) {
             send_json(res, cluster_page(req));
           }));
  http.Get("/api/image", guarded([this](const httplib::Request& req, httplib::Response& res) {
             send_json(res, image_detail(req));
           }));
  http.Get("/thumb", guarded([this](const httplib::Request& req, httplib::Response& res) {
             const int64_t i = int_param(req, "index", 0, images() - 1);
             res.set_header("Cache-Control", "max-age=3600");
             res.set_content(thumbnail(i), "image/png");
           }));
  http.Get("/figure", guarded([this](const httplib::Request& req, httplib::Response& res) {
             const std::string name = req.get_param_value("name");
             const auto it = data.figures.find(name);
             if (it == data.figures.end()) {
               throw RequestError{404, "no figure \"" + name.substr(0, 60) + "\" in this run"};
             }
             try {
               const std::vector<uint8_t> bytes = read_file_bytes(it->second);
               res.set_content(std::string(bytes.begin(), bytes.end()), "image/png");
             } catch (const InputError& e) {
               throw RequestError{404, e.what()};
             }
           }));
  http.Get("/api/export.csv", guarded([this](const httplib::Request&, httplib::Response& res) {
             res.set_header("Content-Disposition", "attachment; filename=\"curated.csv\"");
             res.set_content(export_csv(), "text/csv");
           }));
  http.Post("/api/edit", guarded([this](const httplib::Request& req, httplib::Response& res) {
              send_json(res, edit(req.body));
            }));
  http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const std::string message = res.status == 413   ? "the request body is too large"
                                    : res.status == 404 ? "no such page: " + req.path.substr(0, 80)
                                                        : "the request was refused";
        send_json(res, {{"error", message}}, res.status);
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string message = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          message += std::string(": ") + e.what();
        } catch (...) {
        }
        send_json(res, {{"error", message.substr(0, 300)}}, 500);
      });
}

CurationServer::CurationServer(ServeData data, Curation curation, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  const int64_t n = data.images.size(0);
  TORCH_CHECK(data.images.dim() == 4 && data.images.scalar_type() == torch::kUInt8,
              "ServeData: images must be uint8 [N, C, H, W]");
  TORCH_CHECK(data.features.dim() == 2 && data.features.size(0) == n, "ServeData: features [N, D]");
  TORCH_CHECK(data.probabilities.dim() == 2 && data.probabilities.size(0) == n,
              "ServeData: probabilities [N, K]");
  TORCH_CHECK(data.paths.empty() || static_cast<int64_t>(data.paths.size()) == n,
              "ServeData: paths [N]");
  TORCH_CHECK(!data.labels.defined() || data.labels.size(0) == n, "ServeData: labels [N]");
  DCACN_CHECK(curation.images() == n, "the curation holds ", curation.images(),
              " images; the data has ", n);
  s.data = std::move(data);
  if (s.data.labels.defined()) s.data.labels = s.data.labels.to(torch::kInt64).contiguous();
  s.data.probabilities = s.data.probabilities.to(torch::kFloat32).contiguous();
  const torch::Tensor f = s.data.features.to(torch::kFloat32);
  s.unit_features = (f / f.norm(2, 1, true).clamp_min(1e-12)).contiguous();
  s.confidence = std::get<0>(s.data.probabilities.max(1)).contiguous();
  s.curation = std::move(curation);
  s.options = std::move(options);
  s.http.set_payload_max_length(s.options.max_body);
  // Small answers written in pieces (headers, then body) otherwise wait for the client's delayed
  // acknowledgement (Nagle): 40 ms per request on Linux loopback.
  s.http.set_tcp_nodelay(true);
  const int threads = std::max(1, s.options.threads);
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.routes();
}

CurationServer::~CurationServer() { stop(); }

int CurationServer::bind() {
  Impl& s = *impl_;
  int port;
  if (s.options.port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
  } else {
    port = s.http.bind_to_port(s.options.host, s.options.port) ? s.options.port : -1;
  }
  DCACN_CHECK(port > 0, "cannot listen on ", s.options.host, ":", s.options.port,
              " (in use, or not an address of this machine); choose another with --port/--host");
  return port;
}

void CurationServer::listen() { impl_->http.listen_after_bind(); }

void CurationServer::stop() {
  if (impl_ && impl_->http.is_running()) impl_->http.stop();
}

Curation CurationServer::curation() const {
  std::shared_lock<std::shared_mutex> lock(impl_->curation_mutex);
  return impl_->curation;
}

size_t CurationServer::thumbnail_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->thumb_mutex);
  return impl_->thumb_bytes;
}

}  // namespace dcacn
