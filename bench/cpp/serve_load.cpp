// Load test of a running `dcacn serve`: the first page as a browser loads it (page, state, one
// cluster page, its 60 thumbnails, uncached), then N requests from C clients at once, mixed
// reads (state, cluster pages, image details with neighbours, thumbnails) and edits (moves of
// each client's own images, renames). Checks that every request succeeded and that no edit was
// lost: the server's record count grew by the edits that succeeded, and each client's images are
// in the export where that client last moved them. Prints one JSON object.

#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"load test of dcacn serve"};
  std::string host = "127.0.0.1";
  int port = 8000, clients = 16, requests = 2000, images_per_client = 4;
  double edit_share = 0.3;
  uint64_t seed = 0;
  app.add_option("--host", host);
  app.add_option("--port", port)->required();
  app.add_option("--clients", clients, "clients at once")->capture_default_str();
  app.add_option("--requests", requests, "requests in all")->capture_default_str();
  app.add_option("--edit-share", edit_share, "share of requests that edit")->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  httplib::Client probe(host, port);
  probe.set_tcp_nodelay(true);
  // The first page as a browser loads it, thumbnails not yet made.
  const auto t_first = Clock::now();
  auto page = probe.Get("/");
  auto state_res = probe.Get("/api/state");
  if (!page || !state_res || state_res->status != 200) {
    std::cerr << "no dcacn serve at " << host << ":" << port << "\n";
    return 1;
  }
  const json state0 = json::parse(state_res->body);
  const int64_t first_cluster = state0["clusters"][0]["id"];
  const json first = json::parse(
      probe.Get(("/api/cluster?id=" + std::to_string(first_cluster) + "&page=0&per=60").c_str())
          ->body);
  int first_errors = 0;
  for (const json& im : first["images"]) {
    auto t = probe.Get(("/thumb?index=" + std::to_string(im["index"].get<int64_t>())).c_str());
    first_errors += !t || t->status != 200;
  }
  const double first_page_ms = ms_since(t_first);

  const int64_t n = state0["images"];
  std::vector<int64_t> cluster_ids;
  for (const json& c : state0["clusters"]) cluster_ids.push_back(c["id"]);
  const int64_t version0 = state0["version"];

  std::atomic<int> next{0}, errors{0}, edits_ok{0};
  std::mutex merge_mutex;
  std::map<std::string, std::vector<double>> latency;
  std::vector<std::map<int64_t, int64_t>> last_target(clients);  // per client: image -> cluster
  std::vector<std::string> error_samples;
  const auto t_load = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c(host, port);
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);
      std::mt19937_64 rng(seed * 1000 + t);
      std::uniform_real_distribution<double> u(0, 1);
      std::map<std::string, std::vector<double>> mine;
      std::vector<int64_t> own;
      // Each client's own images, so that where each one ends is known.
      for (int k = 0; k < images_per_client; ++k) own.push_back((t * images_per_client + k) % n);
      while (next++ < requests) {
        const double r = u(rng);
        std::string kind;
        httplib::Result res{nullptr, httplib::Error::Unknown};
        int64_t target = -1;
        const auto t0 = Clock::now();
        if (r < edit_share * 0.9) {
          kind = "edit: move";
          target = cluster_ids[rng() % cluster_ids.size()];
          const json body = {{"op", "move"}, {"images", own}, {"to", target}};
          res = c.Post("/api/edit", body.dump(), "application/json");
        } else if (r < edit_share) {
          kind = "edit: rename";
          const json body = {{"op", "rename"},
                             {"cluster", cluster_ids[rng() % cluster_ids.size()]},
                             {"name", "client " + std::to_string(t)}};
          res = c.Post("/api/edit", body.dump(), "application/json");
        } else {
          const double s = (r - edit_share) / (1 - edit_share);
          std::string url;
          if (s < 0.15) {
            kind = "read: state", url = "/api/state";
          } else if (s < 0.4) {
            kind = "read: cluster page";
            url = "/api/cluster?id=" + std::to_string(cluster_ids[rng() % cluster_ids.size()]) +
                  "&page=" + std::to_string(rng() % 5) + "&per=60";
          } else if (s < 0.65) {
            kind = "read: image + 12 neighbours";
            url = "/api/image?neighbours=12&index=" + std::to_string(rng() % n);
          } else {
            kind = "read: thumbnail", url = "/thumb?index=" + std::to_string(rng() % n);
          }
          res = c.Get(url.c_str());
        }
        mine[kind].push_back(ms_since(t0));
        if (!res || res->status != 200) {
          ++errors;
          std::lock_guard<std::mutex> lock(merge_mutex);
          if (error_samples.size() < 5) {
            error_samples.push_back(
                kind + ": " +
                (res ? std::to_string(res->status) + " " + res->body.substr(0, 120)
                     : httplib::to_string(res.error())));
          }
          continue;
        }
        if (kind.rfind("edit", 0) == 0) ++edits_ok;
        if (target >= 0) {
          for (int64_t i : own) last_target[t][i] = target;
        }
      }
      std::lock_guard<std::mutex> lock(merge_mutex);
      for (auto& [k, v] : mine) latency[k].insert(latency[k].end(), v.begin(), v.end());
    });
  }
  for (auto& th : threads) th.join();
  const double load_s = ms_since(t_load) / 1000;

  // Lost edits: the record count, and each client's images against the export.
  const json state1 = json::parse(probe.Get("/api/state")->body);
  const int64_t recorded = state1["version"].get<int64_t>() - version0;
  const std::string csv = probe.Get("/api/export.csv")->body;
  std::vector<int64_t> exported(n, -1);
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);  // header: index[,path][,label],cluster,name
  std::vector<std::string> header;
  {
    std::istringstream h(line);
    for (std::string f; std::getline(h, f, ',');) header.push_back(f);
  }
  const size_t cluster_col = std::find(header.begin(), header.end(), "cluster") - header.begin();
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::vector<std::string> fields;
    for (std::string x; std::getline(f, x, ',');) fields.push_back(x);
    if (fields.size() > cluster_col)
      exported[std::stoll(fields[0])] = std::stoll(fields[cluster_col]);
  }
  int64_t misplaced = 0;
  for (const auto& m : last_target) {
    for (const auto& [i, c] : m) misplaced += exported[i] != c;
  }

  json lat = json::object();
  int64_t total = 0;
  for (const auto& [k, v] : latency) {
    lat[k] = {{"count", v.size()},
              {"p50_ms", percentile(v, 0.5)},
              {"p95_ms", percentile(v, 0.95)},
              {"max_ms", percentile(v, 1.0)}};
    total += v.size();
  }
  const json out = {{"images", n},
                    {"first_page_ms", first_page_ms},
                    {"first_page_errors", first_errors},
                    {"clients", clients},
                    {"requests", total},
                    {"seconds", load_s},
                    {"requests_per_s", total / load_s},
                    {"errors", errors.load()},
                    {"error_samples", error_samples},
                    {"edits_ok", edits_ok.load()},
                    {"edits_recorded", recorded},
                    {"lost_edits", edits_ok.load() - recorded},
                    {"misplaced_images", misplaced},
                    {"latency", lat}};
  std::cout << out.dump(2) << std::endl;
  return errors.load() == 0 && first_errors == 0 && recorded == edits_ok.load() && misplaced == 0
             ? 0
             : 1;
}
