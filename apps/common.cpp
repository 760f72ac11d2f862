#include "common.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "dcacn/util/error.h"
#include "dcacn/util/log.h"

namespace dcacn::cli {

void add_dataset_options(CLI::App* command, DatasetSpec* spec, std::string* split_text) {
  command
      ->add_option("--dataset", spec->name,
                   "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder")
      ->capture_default_str();
  command->add_option("--data", spec->path,
                      "folder with the dataset files (fashion-mnist defaults to Debian's "
                      "/usr/share/datasets/fashion-mnist)");
  command->add_option("--split", *split_text, "train | test | all | unlabeled (stl10)")
      ->capture_default_str();
  command
      ->add_option("--image-size", spec->folder.image_size,
                   "image folders: side every image is resized to, in pixels")
      ->capture_default_str();
  command->add_option("--channels", spec->folder.channels, "image folders: 1 or 3")
      ->capture_default_str();
  command->add_flag("--squash", spec->folder.squash,
                    "image folders: resize whole images to squares instead of taking their "
                    "central square");
  command->add_flag("--strict", spec->folder.strict,
                    "image folders: fail on an unreadable image instead of skipping it");
}

void add_runtime_options(CLI::App* command, RuntimeOptions* options) {
  command->add_option("--threads", options->threads, "CPU threads (0: all cores)")
      ->capture_default_str();
  command->add_flag("--quiet", options->quiet, "no progress output on stderr");
}

void apply_runtime_options(const RuntimeOptions& options) {
  // LibTorch 1.13 defaults to one thread on some virtual machines (it counts physical cores
  // from CPU topology); "all cores" means what the process may run on.
  const unsigned available = std::max(1u, std::thread::hardware_concurrency());
  at::set_num_threads(options.threads > 0 ? options.threads : static_cast<int>(available));
  set_log_level(options.quiet ? LogLevel::kWarning : LogLevel::kInfo);
}

int run_guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const InputError& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  }
}

namespace {
std::vector<std::string>& arguments() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

void set_program_arguments(int argc, char** argv) { arguments().assign(argv, argv + argc); }

const std::vector<std::string>& program_arguments() { return arguments(); }

}  // namespace dcacn::cli
