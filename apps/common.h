#pragma once
// Pieces shared by the command-line front ends.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "dcacn/data/registry.h"

namespace dcacn::cli {

/// --dataset, --data, --split, --image-size, --channels, --strict on `command`.
void add_dataset_options(CLI::App* command, DatasetSpec* spec, std::string* split_text);

/// --threads N (0: all cores) and --quiet on `command`.
struct RuntimeOptions {
  int threads = 0;
  bool quiet = false;
};
void add_runtime_options(CLI::App* command, RuntimeOptions* options);
void apply_runtime_options(const RuntimeOptions& options);

/// The command line as main() received it (for relaunching this program as several ranks).
void set_program_arguments(int argc, char** argv);
const std::vector<std::string>& program_arguments();

/// Runs `body`, turning the errors a user can cause into one "error: ..." line on stderr and
/// exit status 1 (2 for internal errors).
int run_guarded(const std::function<int()>& body);

}  // namespace dcacn::cli
