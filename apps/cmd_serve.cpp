// dcacn serve RUN: a local web page to review a run's clusters and correct them (rename, merge,
// split, move, undo), saved to RUN/curation.json (see src/dcacn/serve/server.h).

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "commands.h"
#include "common.h"
#include "dcacn/serve/server.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"
#include "model_common.h"
#include "stop_signals.h"

namespace dcacn::cli {
namespace {

namespace fs = std::filesystem;

struct ServeParams {
  std::string run_dir;
  std::string which = "last";
  std::string device = "auto";
  int64_t batch_size = 0;
  ServerOptions server;
  RuntimeOptions runtime;
};

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

int run_serve(ServeParams& p) {
  apply_runtime_options(p.runtime);
  DCACN_CHECK(is_directory(p.run_dir), "serve takes a run folder (the --out of train or cluster); ",
              p.run_dir, " is not a folder");
  DCACN_CHECK(p.server.port >= 0 && p.server.port <= 65535, "--port must be 0..65535, got ",
              p.server.port);
  ModelChoice choice;
  choice.checkpoint = p.run_dir;
  choice.which = p.which;
  choice.device = p.device;
  choice.batch_size = p.batch_size;
  const TrainedModel model = load_model(choice);
  Dataset data = load_data_for_model(model, {});
  InferenceOptions o = inference_options(model, choice);
  o.embeddings = false;
  o.progress = p.runtime.quiet ? "" : "scoring the run's images";
  const ModelOutputs out = model.run(data.images, o);

  const std::string file = (fs::path(p.run_dir) / Curation::kFileName).string();
  bool found = false;
  Curation curation = load_curation_if_present(p.run_dir, &found);
  if (found) {
    DCACN_CHECK(curation.images() == data.size(), file, " holds ", curation.images(),
                " images; the run's dataset now has ", data.size(),
                ": move the file away to start a new curation");
    DCACN_CHECK(curation.base_clusters() == model.clusters(), file, " was made for ",
                curation.base_clusters(), " clusters; the checkpoint has ", model.clusters());
    const int64_t step = curation.source().value("step", int64_t(-1));
    if (step != model.step) {
      log_warning(c10::str(file, " began from the predictions of step ", step,
                           "; the checkpoint is now at step ", model.step,
                           ". The edits keep applying to the clustering they began from."));
    }
    log_info(c10::str("curation: ", file, ", ", curation.version(), " records"));
  } else {
    const torch::Tensor base = out.probabilities.argmax(1).contiguous();
    curation = Curation(
        std::vector<int64_t>(base.data_ptr<int64_t>(), base.data_ptr<int64_t>() + base.numel()),
        model.clusters(),
        {{"checkpoint", model.checkpoint}, {"step", model.step}, {"dataset", data.name}});
    log_info("curation: none yet; the first edit writes " + file);
  }

  ServeData serve;
  serve.title = fs::path(p.run_dir).lexically_normal().filename().string();
  if (serve.title.empty()) serve.title = fs::absolute(p.run_dir).parent_path().filename().string();
  serve.images = data.images;
  serve.paths = data.paths;
  serve.labels = data.labels;
  serve.class_names = data.class_names;
  serve.features = out.features;
  serve.probabilities = out.probabilities;
  const fs::path report = fs::path(p.run_dir) / "report";
  if (is_directory(report.string())) {
    for (const auto& entry : fs::directory_iterator(report)) {
      if (entry.is_regular_file() && entry.path().extension() == ".png") {
        serve.figures[entry.path().filename().string()] = entry.path().string();
      }
    }
  }
  p.server.curation_file = file;
  if (!is_loopback(p.server.host)) {
    log_warning("--host " + p.server.host +
                ": the page and its edits are open to every machine that can reach this address; "
                "there is no login");
  }
  CurationServer server(std::move(serve), std::move(curation), p.server);
  const int port = server.bind();
  std::cout << "serving " << data.size() << " images of " << p.run_dir << " at http://"
            << (p.server.host.find(':') != std::string::npos ? "[" + p.server.host + "]"
                                                             : p.server.host)
            << ":" << port << "/ (Ctrl-C stops)" << std::endl;
  std::atomic<bool> stop{false};
  StopSignals signals(stop);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (stop.load()) {
        server.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  server.listen();
  done = true;
  watcher.join();
  log_info(c10::str("stopped; ", server.curation().version(), " records in ", file));
  return 0;
}

}  // namespace

CommandRunner register_serve(CLI::App& app) {
  auto p = std::make_shared<ServeParams>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "a local web page to review and correct a run's clusters (saved to curation.json)");
  cmd->add_option("run_dir", p->run_dir, "the run's folder (train --out or cluster --out)")
      ->required();
  cmd->add_option("--port", p->server.port, "TCP port (0: any free one)")->capture_default_str();
  cmd->add_option("--host", p->server.host,
                  "address to listen on; anything but 127.0.0.1 opens the page to other machines")
      ->capture_default_str();
  cmd->add_option("--which", p->which, "checkpoint: last | best")->capture_default_str();
  cmd->add_option("--device", p->device, "auto | cpu | cuda")->capture_default_str();
  cmd->add_option("--batch-size", p->batch_size, "images per forward pass (0: the run's)")
      ->capture_default_str();
  cmd->add_option("--workers", p->server.threads, "threads answering requests")
      ->capture_default_str();
  add_runtime_options(cmd, &p->runtime);
  return [p] { return run_serve(*p); };
}

}  // namespace dcacn::cli
