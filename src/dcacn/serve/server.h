#pragma once
// The review page's web server (`dcacn serve`): a run's clusters as pages of thumbnails, an
// image's neighbours and probabilities, the report's figures, and the edits of a Curation, saved
// to its file after each one. HTTP through cpp-httplib on a pool of threads; one lock guards the
// curation, so edits apply one at a time in arrival order.
//
// Safety: images are served by index into the data held in memory and figures by a name from a
// list made at start-up, never by a path from the request; the only file written is the
// curation's; request bodies over ServerOptions::max_body get 413; malformed JSON, unknown
// clusters and out-of-range indexes get a 4xx with {"error": message} and change nothing.
//
// API (JSON unless said):
//   GET  /                       the page (index.html, app.js, style.css)
//   GET  /api/state              run, images, version, clusters (id, name, size, purity)
//   GET  /api/cluster?id=&page=&per=   members, most confident first
//   GET  /api/image?index=&neighbours= cluster, probabilities, nearest neighbours in features
//   GET  /thumb?index=           PNG of one image (made on first request, then cached)
//   GET  /figure?name=           a PNG of the run's report
//   GET  /api/export.csv         index[,path][,label],cluster,name (text/csv)
//   POST /api/edit               {"op": rename|merge|split|move|undo, ...}; split takes "k" and
//                                runs k-means on the cluster's features

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dcacn/curate/curation.h"

namespace dcacn {

/// What the page shows, all in memory.
struct ServeData {
  std::string title;                           ///< e.g. the run's folder
  torch::Tensor images;                        ///< [N, C, H, W] uint8
  std::vector<std::string> paths;              ///< [N] or empty
  torch::Tensor labels;                        ///< [N] int64, or undefined
  std::vector<std::string> class_names;        ///< by label, may be empty
  torch::Tensor features;                      ///< [N, D] float (normalised by the server)
  torch::Tensor probabilities;                 ///< [N, K] float, the model's
  std::map<std::string, std::string> figures;  ///< name -> PNG file
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  ///< 0: any free port
  /// Where each edit is saved (atomically); empty: kept in memory only (tests).
  std::string curation_file;
  size_t max_body = 1 << 20;  ///< bytes of a request body
  /// Request threads; each serves one keep-alive connection while it lasts, so a few per client.
  int threads = 32;
  int64_t max_page = 500;  ///< images per page at most
  int64_t max_neighbours = 64;
  int64_t max_split = 20;  ///< parts of a split at most
  uint64_t seed = 0;       ///< k-means of splits
};

/// The curated clusters as CSV, `index[,path][,label],cluster,name` (io/predictions.h): the
/// page's export and `dcacn export`'s.
std::string curation_csv(const Curation& curation, const torch::Tensor& labels,
                         const std::vector<std::string>& paths);

class CurationServer {
 public:
  CurationServer(ServeData data, Curation curation, ServerOptions options);
  ~CurationServer();
  CurationServer(const CurationServer&) = delete;
  CurationServer& operator=(const CurationServer&) = delete;

  /// Binds the socket; returns the port (the chosen one when options.port is 0). InputError when
  /// the address cannot be bound.
  int bind();
  /// Serves until stop() (from another thread or a signal handler's thread).
  void listen();
  void stop();

  /// The curation as it stands (a copy, under the lock).
  Curation curation() const;
  /// Bytes held by the thumbnail cache.
  size_t thumbnail_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dcacn
