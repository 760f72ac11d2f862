#include "stop_signals.h"

#include <csignal>

namespace dcacn::cli {
namespace {

// A lock-free atomic pointer: what a signal handler may read.
std::atomic<std::atomic<bool>*> g_flag{nullptr};
extern "C" void on_stop_signal(int) {
  if (std::atomic<bool>* flag = g_flag.load()) flag->store(true);
}

}  // namespace

StopSignals::StopSignals(std::atomic<bool>& flag) {
  g_flag = &flag;
  previous_int_ = std::signal(SIGINT, on_stop_signal);
  previous_term_ = std::signal(SIGTERM, on_stop_signal);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, previous_int_);
  std::signal(SIGTERM, previous_term_);
  g_flag = nullptr;
}

}  // namespace dcacn::cli
