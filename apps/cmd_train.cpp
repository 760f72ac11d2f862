// dcacn train: DCACN training (see src/dcacn/train/trainer.h for what a run directory holds).

#include <ATen/Parallel.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

#include "commands.h"
#include "common.h"
#include "dcacn/dist/launcher.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/train/trainer.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"
#include "stop_signals.h"
#include "train_options.h"

namespace dcacn::cli {
namespace {

// This command line without --nproc, for the ranks the launcher starts.
std::vector<std::string> rank_command_line() {
  std::vector<std::string> args = program_arguments();
  std::vector<std::string> out = {"/proc/self/exe"};
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

// "--epochs, ..., --quiet": the options that may change on resume, as --help lists them.
std::string resumable_names(const TrainParams& p) {
  std::string names;
  for (const auto& opt : p.options) {
    if (opt.resume) names += opt.option->get_name() + ", ";
  }
  return names + "--threads, --quiet";
}

ResumeOverrides resume_overrides(const TrainParams& p) {
  TrainConfig given;
  ResumeOverrides o;
  for (const auto& opt : p.options) {
    if (opt.option->count() == 0 || !opt.resume) continue;
    opt.apply(given, p.parsed);
    opt.resume(o, given);
  }
  return o;
}

void refuse_fixed_options(const TrainParams& p) {
  DCACN_CHECK(p.preset.empty(),
              "--preset cannot go with --resume: a resumed run keeps its own "
              "settings (may change: ",
              resumable_names(p), ")");
  for (const auto& opt : p.options) {
    DCACN_CHECK(opt.option->count() == 0 || opt.resume, opt.option->get_name(),
                " cannot change when resuming a run: it keeps its own (may change: ",
                resumable_names(p), ")");
  }
}

int run_train(TrainParams& p) {
  const DistEnv dist = dist_env_from_environment();
  if (p.nproc > 1 && !dist.distributed()) {
    LaunchOptions launch;
    launch.nproc = p.nproc;
    if (const char* port = std::getenv("MASTER_PORT"); port != nullptr) {
      launch.master_port = std::atoi(port);
    }
    set_log_level(p.runtime.quiet ? LogLevel::kWarning : LogLevel::kInfo);
    return launch_local_ranks(rank_command_line(), launch);
  }
  DCACN_CHECK(p.nproc == 1 || p.nproc == dist.world_size, "--nproc ", p.nproc,
              " inside a distributed run of ", dist.world_size, " ranks");
  apply_runtime_options(p.runtime);
  if (dist.distributed()) {
    // The ranks of one machine share its cores, unless --threads says otherwise.
    const char* local = std::getenv("LOCAL_WORLD_SIZE");
    const int per_machine = local != nullptr ? std::max(1, std::atoi(local)) : 1;
    if (p.runtime.threads == 0) {
      at::set_num_threads(std::max(1, at::get_num_threads() / per_machine));
    }
    if (dist.rank > 0) set_log_level(LogLevel::kWarning);  // rank 0 speaks for the run
  }
  CommunicatorOptions comm;
  DCACN_CHECK(p.dist_timeout > 0, "--dist-timeout must be positive, got ", p.dist_timeout);
  comm.timeout = std::chrono::milliseconds(static_cast<int64_t>(p.dist_timeout * 1000));
  comm.backend = p.dist_backend;
  const bool resume = !p.resume.empty();
  DCACN_CHECK(resume || !p.out.empty(), "give --out RUN_DIR for a new run or --resume RUN_DIR");
  DCACN_CHECK(!(resume && !p.out.empty()), "give either --out or --resume, not both");
  DCACN_CHECK(!(resume && p.overwrite), "--overwrite replaces a run; it cannot go with --resume");
  if (resume) {
    refuse_fixed_options(p);
    Trainer trainer(p.resume, resume_overrides(p), dist);
    trainer.set_distributed(dist, comm);
    StopSignals signals(trainer.stop_flag());
    return report_train_result(trainer.run(), p.resume, dist.rank);
  }
  const TrainConfig config =
      apply_given_options(p, p.preset.empty() ? TrainConfig() : preset(p.preset));
  if (p.overwrite && dist.rank == 0) remove_previous_run(p.out);
  Trainer trainer(config, p.out, dist);
  trainer.set_distributed(dist, comm);
  StopSignals signals(trainer.stop_flag());
  return report_train_result(trainer.run(), p.out, dist.rank);
}

}  // namespace

CommandRunner register_train(CLI::App& app) {
  auto p = std::make_shared<TrainParams>();
  CLI::App* cmd =
      app.add_subcommand("train", "train DCACN; writes config, metrics and checkpoints");
  cmd->add_option("--preset", p->preset,
                  "fmnist-cpu | paper-cifar10 | paper-stl10 | paper-imagenet10 (options given "
                  "with it override its values; with --help: shows its values)")
      ->each([p](const std::string& name) {
        // Parsed before --help is answered, so `train --preset X --help` shows X's values.
        try {
          show_defaults(p.get(), preset(name));
        } catch (const InputError&) {  // reported when the command runs
        }
      });
  cmd->add_option("--out", p->out, "run directory (config.json, metrics.csv, checkpoints/)");
  CLI::Option* resume = cmd->add_option("--resume", p->resume);
  cmd->add_flag("--overwrite", p->overwrite, "replace a previous run in --out");
  add_config_options(cmd, p.get());
  resume->description("continue the run in this directory with its own settings; only " +
                      resumable_names(*p) + " may change");
  show_defaults(p.get(), TrainConfig());
  add_runtime_options(cmd, &p->runtime);
  cmd->add_option("--nproc", p->nproc,
                  "train data-parallel on this many local processes (ranks), each with its "
                  "share of --threads and of the batch; several machines: start each with "
                  "torchrun's variables (README)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--dist-timeout", p->dist_timeout,
                  "seconds a rank waits for the others before giving up (distributed runs)")
      ->capture_default_str();
  cmd->add_option("--dist-backend", p->dist_backend,
                  "auto (NCCL on CUDA when built with it, else Gloo) | gloo | nccl")
      ->capture_default_str();
  return [p] { return run_train(*p); };
}

}  // namespace dcacn::cli
