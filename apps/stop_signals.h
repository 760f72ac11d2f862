#pragma once
// Ctrl-C and SIGTERM during training: while a StopSignals is alive they set the trainer's stop
// flag (the run stops after its current step and saves a checkpoint) instead of killing the
// process; the previous handlers come back when it ends.

#include <atomic>

namespace dcacn::cli {

class StopSignals {
 public:
  explicit StopSignals(std::atomic<bool>& flag);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

}  // namespace dcacn::cli
