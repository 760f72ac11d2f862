#pragma once
// A person's corrections to a clustering: clusters renamed, merged, split, images moved, and
// undo. The state is the model's clustering (the base) with the edits applied in order; the file
// `RUN/curation.json` holds the base and every edit as a record, so that it can be replayed
// without the network (export) and read by a person. Format (version kFormatVersion):
//   {"format": "dcacn-curation", "version": 1, "images": N, "clusters": K,
//    "source": {...what the base came from...}, "base": [N cluster ids],
//    "edits": [{"id": 1, "op": "rename", "cluster": c, "name": "..."},
//              {"id": 2, "op": "merge", "clusters": [a, ...], "into": b},
//              {"id": 3, "op": "split", "cluster": c, "parts": [[image, ...], ...], "new": [c2,
//              ...]},
//              {"id": 4, "op": "move", "images": [...], "to": c},
//              {"id": 5, "op": "undo", "target": 4}, ...]}
// A split records the images of every part (the parts come from k-means on features the file
// does not hold). Cluster ids are never reused: the base's are 0..K-1, each split adds new ones.
// Edits are checked against the current state and refused with a CurationError that says why
// (an unknown cluster, a cluster merged away by an earlier edit, an image out of range), so two
// people editing at once lose nothing: each edit applies to what is there when it arrives.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace dcacn {

/// An edit that cannot apply. kInvalid: malformed or out of range; kUnknown: names a cluster or
/// edit that does not exist; kConflict: valid alone, but not against the current state.
class CurationError : public std::runtime_error {
 public:
  enum class Kind { kInvalid, kUnknown, kConflict };
  CurationError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

class Curation {
 public:
  static constexpr int64_t kFormatVersion = 1;
  static constexpr const char* kFileName = "curation.json";
  /// Longest cluster name accepted.
  static constexpr size_t kMaxNameLength = 200;

  Curation() = default;
  /// A curation with no edits of `base` ([N] cluster ids in [0, clusters)). `source` is stored
  /// as given (what the base came from: checkpoint, step, dataset).
  Curation(std::vector<int64_t> base, int64_t clusters, nlohmann::json source = {});

  /// Reads and replays a file written by save(). InputError naming the file and what is wrong.
  static Curation load(const std::string& file);
  /// The file's JSON; written through a temporary file and a rename (write_file_atomic).
  void save(const std::string& file) const;
  nlohmann::json to_json() const;

  int64_t images() const { return static_cast<int64_t>(assignment_.size()); }
  int64_t base_clusters() const { return base_clusters_; }
  const std::vector<int64_t>& base() const { return base_; }
  const nlohmann::json& source() const { return source_; }
  /// [N] the curated cluster of every image.
  const std::vector<int64_t>& assignment() const { return assignment_; }
  /// Ids of the clusters that exist (not merged away), ascending.
  std::vector<int64_t> cluster_ids() const;
  /// One more than the largest cluster id ever used.
  int64_t id_bound() const { return static_cast<int64_t>(names_.size()); }
  bool exists(int64_t cluster) const;
  /// The cluster's name ("cluster 3" until renamed).
  const std::string& name(int64_t cluster) const;
  /// Every name, indexed by cluster id (merged-away clusters included).
  const std::vector<std::string>& names() const { return names_; }
  /// Images of `cluster`, ascending.
  std::vector<int64_t> members(int64_t cluster) const;
  /// Records in the file (edits and undos).
  int64_t version() const { return static_cast<int64_t>(records_.size()); }
  const std::vector<nlohmann::json>& records() const { return records_; }
  /// Id of the latest edit that is still in effect, or 0 when there is none.
  int64_t latest_edit() const { return applied_.empty() ? 0 : applied_.back().id; }

  /// Each edit returns its record id. CurationError when it cannot apply (nothing changes).
  int64_t rename(int64_t cluster, const std::string& name);
  /// Moves every image of `clusters` into `into`; the merged clusters cease to exist.
  int64_t merge(const std::vector<int64_t>& clusters, int64_t into);
  /// `parts`: for each image of members(cluster), in that order, its part in [0, P), P >= 2,
  /// every part non-empty. The part holding members(cluster)[0] keeps the id and name, the others
  /// get new ids named "<name> / 2", "<name> / 3"...
  int64_t split(int64_t cluster, const std::vector<int64_t>& parts);
  int64_t move(const std::vector<int64_t>& images, int64_t to);
  /// Undoes the latest edit in effect. `expected`: that edit's id as the caller saw it, or -1;
  /// kConflict when another edit came since (an undo never takes back someone else's edit).
  int64_t undo(int64_t expected = -1);

  /// For images outside the curated set: base cluster -> the curated cluster that holds most of
  /// that base cluster's images (a merge or rename carries over exactly; a split cluster maps to
  /// its largest part). [base_clusters] ids.
  std::vector<int64_t> base_cluster_map() const;

 private:
  struct Applied {
    int64_t id = 0;
    std::string op;
    // What undo restores.
    std::vector<int64_t> images;    // images whose cluster changed
    std::vector<int64_t> previous;  // their clusters before
    std::vector<int64_t> revived;   // clusters merged away
    std::vector<int64_t> created;   // clusters created (split)
    int64_t renamed = -1;           // cluster renamed
    std::string previous_name;
  };

  void check_cluster(int64_t cluster, const char* what) const;
  void check_image(int64_t image) const;
  // Applies record `r` (validated) and returns what undo needs.
  Applied apply(const nlohmann::json& r);
  void apply_rename(const nlohmann::json& r, Applied& a);
  void apply_merge(const nlohmann::json& r, Applied& a);
  void apply_split(const nlohmann::json& r, Applied& a);
  void apply_move(const nlohmann::json& r, Applied& a);
  int64_t record(nlohmann::json r);

  std::vector<int64_t> base_;
  int64_t base_clusters_ = 0;
  nlohmann::json source_;
  std::vector<int64_t> assignment_;
  std::vector<std::string> names_;  // indexed by cluster id
  std::vector<bool> alive_;
  std::vector<nlohmann::json> records_;
  std::vector<Applied> applied_;  // edits in effect, oldest first
};

/// Reads RUN/curation.json when it exists; `found` says whether it did.
Curation load_curation_if_present(const std::string& run_dir, bool* found);

}  // namespace dcacn
