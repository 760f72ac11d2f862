#pragma once
// A progress line for long work: redrawn in place on a terminal, or printed as a log line at
// most every `log_interval` seconds when stderr is a file or a pipe.

#include <chrono>
#include <string>

namespace dcacn {

class Progress {
 public:
  explicit Progress(double log_interval_seconds = 30.0);
  ~Progress();
  /// Shows `line` (rate-limited); `force` prints it now in log mode too.
  void update(const std::string& line, bool force = false);
  /// Ends the in-place line so that other output starts on a fresh line.
  void finish();

 private:
  bool tty_;
  bool open_line_ = false;
  double log_interval_;
  std::chrono::steady_clock::time_point last_{};
};

/// "1 h 02 min", "3 min 05 s", "42 s".
std::string format_duration(double seconds);

/// "0.1235": `digits` decimals.
std::string fixed(double value, int digits = 4);

}  // namespace dcacn
