#include "dcacn/curate/curation.h"

#include <algorithm>
#include <fstream>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

using Kind = CurationError::Kind;
using json = nlohmann::json;

[[noreturn]] void fail(Kind kind, const std::string& message) {
  throw CurationError(kind, message);
}

// An integer field of an edit record.
int64_t int_field(const json& r, const char* key) {
  if (!r.contains(key) || !r[key].is_number_integer()) {
    fail(Kind::kInvalid, c10::str("the edit needs \"", key, "\" as an integer"));
  }
  return r[key].get<int64_t>();
}

// A list of integers: `v`, named `what` in messages.
std::vector<int64_t> integers(const json& v, const std::string& what) {
  if (!v.is_array()) fail(Kind::kInvalid, "the edit needs " + what + " as a list of integers");
  std::vector<int64_t> out;
  out.reserve(v.size());
  for (const json& x : v) {
    if (!x.is_number_integer()) {
      fail(Kind::kInvalid, c10::str(what, " holds ", x.dump(), ", not an integer"));
    }
    out.push_back(x.get<int64_t>());
  }
  return out;
}

std::vector<int64_t> int_list(const json& r, const char* key) {
  return integers(r.contains(key) ? r[key] : json(), c10::str("\"", key, "\""));
}

std::string default_name(int64_t cluster) { return "cluster " + std::to_string(cluster); }

}  // namespace

Curation::Curation(std::vector<int64_t> base, int64_t clusters, json source)
    : base_(std::move(base)), base_clusters_(clusters), source_(std::move(source)) {
  DCACN_CHECK(clusters >= 1, "a curation needs at least one cluster, got ", clusters);
  for (size_t i = 0; i < base_.size(); ++i) {
    DCACN_CHECK(base_[i] >= 0 && base_[i] < clusters, "image ", i, " is in cluster ", base_[i],
                ", outside 0..", clusters - 1);
  }
  assignment_ = base_;
  for (int64_t c = 0; c < clusters; ++c) names_.push_back(default_name(c));
  alive_.assign(clusters, true);
}

std::vector<int64_t> Curation::cluster_ids() const {
  std::vector<int64_t> out;
  for (int64_t c = 0; c < id_bound(); ++c) {
    if (alive_[c]) out.push_back(c);
  }
  return out;
}

bool Curation::exists(int64_t cluster) const {
  return cluster >= 0 && cluster < id_bound() && alive_[cluster];
}

const std::string& Curation::name(int64_t cluster) const {
  TORCH_CHECK(cluster >= 0 && cluster < id_bound(), "no cluster ", cluster);
  return names_[cluster];
}

std::vector<int64_t> Curation::members(int64_t cluster) const {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < images(); ++i) {
    if (assignment_[i] == cluster) out.push_back(i);
  }
  return out;
}

void Curation::check_cluster(int64_t cluster, const char* what) const {
  if (cluster < 0 || cluster >= id_bound()) {
    fail(Kind::kUnknown,
         c10::str(what, " ", cluster, " does not exist (clusters are 0..", id_bound() - 1, ")"));
  }
  if (!alive_[cluster]) {
    fail(Kind::kConflict,
         c10::str(what, " ", cluster, " no longer exists (merged away or its split undone)"));
  }
}

void Curation::check_image(int64_t image) const {
  if (image < 0 || image >= images()) {
    fail(Kind::kInvalid,
         c10::str("image ", image, " is out of range (images are 0..", images() - 1, ")"));
  }
}

Curation::Applied Curation::apply(const json& r) {
  if (!r.is_object() || !r.contains("op") || !r["op"].is_string()) {
    fail(Kind::kInvalid, "an edit is an object with \"op\": rename, merge, split, move or undo");
  }
  Applied a;
  a.op = r["op"].get<std::string>();
  if (a.op == "rename") {
    apply_rename(r, a);
  } else if (a.op == "merge") {
    apply_merge(r, a);
  } else if (a.op == "split") {
    apply_split(r, a);
  } else if (a.op == "move") {
    apply_move(r, a);
  } else if (a.op == "undo") {
    fail(Kind::kInvalid, "undo is not an edit to apply");
  } else {
    fail(Kind::kInvalid, "unknown edit \"" + a.op + "\" (rename, merge, split, move or undo)");
  }
  return a;
}

void Curation::apply_rename(const json& r, Applied& a) {
  const int64_t c = int_field(r, "cluster");
  check_cluster(c, "cluster");
  if (!r.contains("name") || !r["name"].is_string()) {
    fail(Kind::kInvalid, "a rename needs \"name\" as a string");
  }
  const std::string name = r["name"].get<std::string>();
  if (name.empty() || name.size() > kMaxNameLength) {
    fail(Kind::kInvalid,
         c10::str("a cluster name has 1 to ", kMaxNameLength, " characters, got ", name.size()));
  }
  for (unsigned char ch : name) {
    if (ch < 0x20 || ch == 0x7f) fail(Kind::kInvalid, "a cluster name has no control characters");
  }
  a.renamed = c;
  a.previous_name = names_[c];
  names_[c] = name;
}

void Curation::apply_merge(const json& r, Applied& a) {
  const std::vector<int64_t> from = int_list(r, "clusters");
  const int64_t into = int_field(r, "into");
  check_cluster(into, "cluster");
  if (from.empty()) fail(Kind::kInvalid, "a merge needs at least one cluster to merge");
  std::vector<bool> merged(id_bound(), false);
  for (int64_t c : from) {
    check_cluster(c, "cluster");
    if (c == into) fail(Kind::kInvalid, c10::str("cannot merge cluster ", c, " into itself"));
    if (merged[c]) fail(Kind::kInvalid, c10::str("cluster ", c, " is named twice"));
    merged[c] = true;
  }
  for (int64_t i = 0; i < images(); ++i) {
    if (merged[assignment_[i]]) {
      a.images.push_back(i);
      a.previous.push_back(assignment_[i]);
      assignment_[i] = into;
    }
  }
  for (int64_t c : from) alive_[c] = false;
  a.revived = from;
}

void Curation::apply_split(const json& r, Applied& a) {
  const int64_t c = int_field(r, "cluster");
  check_cluster(c, "cluster");
  if (!r.contains("parts") || !r["parts"].is_array() || r["parts"].size() < 2) {
    fail(Kind::kInvalid, "a split needs \"parts\": at least two lists of images");
  }
  const std::vector<int64_t> now = members(c);
  std::vector<int64_t> part_of(images(), -1);
  size_t listed = 0;
  const int64_t parts = static_cast<int64_t>(r["parts"].size());
  for (int64_t p = 0; p < parts; ++p) {
    const std::vector<int64_t> list = integers(r["parts"][p], c10::str("part ", p));
    if (list.empty()) fail(Kind::kInvalid, c10::str("part ", p, " of the split is empty"));
    for (int64_t i : list) {
      check_image(i);
      if (assignment_[i] != c || part_of[i] != -1) {
        fail(Kind::kConflict, c10::str("image ", i, " is not in cluster ", c,
                                       " or is listed twice: the split's parts must be ",
                                       "the cluster's ", now.size(), " images"));
      }
      part_of[i] = p;
      ++listed;
    }
  }
  if (listed != now.size()) {
    fail(Kind::kConflict, c10::str("the split lists ", listed, " images; cluster ", c, " has ",
                                   now.size(), " (it changed since the split was computed)"));
  }
  std::vector<int64_t> ids{c};
  for (int64_t p = 1; p < parts; ++p) {
    ids.push_back(id_bound());
    a.created.push_back(id_bound());
    names_.push_back(names_[c] + " / " + std::to_string(p + 1));
    alive_.push_back(true);
  }
  for (int64_t i : now) {
    if (part_of[i] != 0) {
      a.images.push_back(i);
      a.previous.push_back(c);
      assignment_[i] = ids[part_of[i]];
    }
  }
}

void Curation::apply_move(const json& r, Applied& a) {
  const std::vector<int64_t> list = int_list(r, "images");
  const int64_t to = int_field(r, "to");
  check_cluster(to, "cluster");
  if (list.empty()) fail(Kind::kInvalid, "a move needs at least one image");
  std::vector<int64_t> sorted = list;
  std::sort(sorted.begin(), sorted.end());
  for (size_t k = 0; k < sorted.size(); ++k) {
    check_image(sorted[k]);
    if (k > 0 && sorted[k] == sorted[k - 1]) {
      fail(Kind::kInvalid, c10::str("image ", sorted[k], " is listed twice"));
    }
  }
  for (int64_t i : list) {
    a.images.push_back(i);
    a.previous.push_back(assignment_[i]);
    assignment_[i] = to;
  }
}

int64_t Curation::record(json r) {
  const int64_t id = version() + 1;
  if (!r.is_object()) fail(Kind::kInvalid, "an edit is an object, got " + r.dump().substr(0, 40));
  if (r.value("op", "") == "undo") {
    if (applied_.empty()) fail(Kind::kConflict, "there is no edit to undo");
    const int64_t latest = applied_.back().id;
    if (r.contains("target") && !r["target"].is_null()) {
      const int64_t expected = int_field(r, "target");
      if (expected != latest) {
        fail(Kind::kConflict, c10::str("edit ", expected, " is not the latest edit in effect (",
                                       latest, " is): reload to see it"));
      }
    }
    const Applied a = applied_.back();
    for (size_t k = a.images.size(); k-- > 0;) assignment_[a.images[k]] = a.previous[k];
    for (int64_t c : a.revived) alive_[c] = true;
    for (int64_t c : a.created) alive_[c] = false;
    if (a.renamed >= 0) names_[a.renamed] = a.previous_name;
    applied_.pop_back();
    records_.push_back({{"id", id}, {"op", "undo"}, {"target", latest}});
    return id;
  }
  Applied a = apply(r);
  a.id = id;
  r["id"] = id;
  records_.push_back(std::move(r));
  applied_.push_back(std::move(a));
  return id;
}

int64_t Curation::rename(int64_t cluster, const std::string& name) {
  return record({{"op", "rename"}, {"cluster", cluster}, {"name", name}});
}

int64_t Curation::merge(const std::vector<int64_t>& clusters, int64_t into) {
  return record({{"op", "merge"}, {"clusters", clusters}, {"into", into}});
}

int64_t Curation::split(int64_t cluster, const std::vector<int64_t>& parts) {
  check_cluster(cluster, "cluster");
  const std::vector<int64_t> now = members(cluster);
  if (parts.size() != now.size()) {
    fail(Kind::kConflict, c10::str("the split gives parts for ", parts.size(), " images; cluster ",
                                   cluster, " has ", now.size()));
  }
  // Renumber the parts by first appearance so that the first image's part keeps the id.
  std::map<int64_t, int64_t> order;
  std::vector<std::vector<int64_t>> lists;
  for (size_t k = 0; k < now.size(); ++k) {
    auto [it, fresh] = order.emplace(parts[k], static_cast<int64_t>(lists.size()));
    if (fresh) lists.emplace_back();
    lists[it->second].push_back(now[k]);
  }
  if (lists.size() < 2) {
    fail(Kind::kConflict, c10::str("the split puts all ", now.size(), " images of cluster ",
                                   cluster, " in one part"));
  }
  return record({{"op", "split"}, {"cluster", cluster}, {"parts", lists}});
}

int64_t Curation::move(const std::vector<int64_t>& list, int64_t to) {
  return record({{"op", "move"}, {"images", list}, {"to", to}});
}

int64_t Curation::undo(int64_t expected) {
  json r = {{"op", "undo"}};
  if (expected >= 0) r["target"] = expected;
  return record(r);
}

std::vector<int64_t> Curation::base_cluster_map() const {
  std::vector<std::map<int64_t, int64_t>> counts(base_clusters_);
  for (int64_t i = 0; i < images(); ++i) ++counts[base_[i]][assignment_[i]];
  std::vector<int64_t> out(base_clusters_);
  for (int64_t b = 0; b < base_clusters_; ++b) {
    // A base cluster with no images follows its own id's fate: merged away -> nothing to follow,
    // so it keeps the id when alive, else the smallest cluster that exists.
    int64_t best = exists(b) ? b : cluster_ids().front();
    int64_t best_count = 0;
    for (const auto& [c, n] : counts[b]) {
      if (n > best_count) best = c, best_count = n;
    }
    out[b] = best;
  }
  return out;
}

json Curation::to_json() const {
  json edits = json::array();
  for (const json& r : records_) edits.push_back(r);
  return {{"format", "dcacn-curation"},
          {"version", kFormatVersion},
          {"images", images()},
          {"clusters", base_clusters_},
          {"source", source_},
          {"base", base_},
          {"edits", edits}};
}

void Curation::save(const std::string& file) const {
  write_file_atomic(file, to_json().dump() + "\n");
}

Curation Curation::load(const std::string& file) {
  std::ifstream in(file);
  DCACN_CHECK(in.good(), file, ": cannot be read");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(file + ": not valid JSON (" + e.what() + ")");
  }
  DCACN_CHECK(j.is_object() && j.value("format", "") == "dcacn-curation", file,
              ": not a dcacn curation file (\"format\" is not \"dcacn-curation\")");
  DCACN_CHECK(j.contains("version") && j["version"].is_number_integer() &&
                  j["version"].get<int64_t>() == kFormatVersion,
              file, ": curation format version ", j.value("version", json()).dump(),
              ", this dcacn reads version ", kFormatVersion);
  Curation c;
  try {
    const std::vector<int64_t> base = int_list(j, "base");
    const int64_t clusters = int_field(j, "clusters");
    const int64_t n = int_field(j, "images");
    DCACN_CHECK(n == static_cast<int64_t>(base.size()), "\"images\" is ", n, " but \"base\" has ",
                base.size(), " entries");
    c = Curation(base, clusters, j.value("source", json::object()));
  } catch (const std::runtime_error& e) {
    throw InputError(file + ": " + e.what());
  }
  DCACN_CHECK(j.contains("edits") && j["edits"].is_array(), file, ": no \"edits\" list");
  for (const json& r : j["edits"]) {
    try {
      json edit = r;
      if (edit.is_object()) edit.erase("id");
      c.record(std::move(edit));
    } catch (const std::exception& e) {  // CurationError, and nlohmann's for odd values
      throw InputError(c10::str(file, ": edit ", c.version() + 1, " (", r.dump().substr(0, 120),
                                ") does not apply: ", e.what()));
    }
  }
  return c;
}

Curation load_curation_if_present(const std::string& run_dir, bool* found) {
  const std::string file = run_dir + "/" + Curation::kFileName;
  *found = is_file(file);
  return *found ? Curation::load(file) : Curation();
}

}  // namespace dcacn
