#include "dcacn/util/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "dcacn/util/log.h"

namespace dcacn {

Progress::Progress(double log_interval_seconds)
    : tty_(isatty(fileno(stderr)) != 0), log_interval_(log_interval_seconds) {}

Progress::~Progress() { finish(); }

void Progress::update(const std::string& line, bool force) {
  if (log_level() < LogLevel::kInfo) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (tty_) {
    if (!force && since < 0.2) return;
    std::cerr << '\r' << line << "\033[K" << std::flush;
    open_line_ = true;
  } else {
    if (!force && since < log_interval_) return;
    std::cerr << line << '\n' << std::flush;
  }
  last_ = now;
}

void Progress::finish() {
  if (open_line_) {
    std::cerr << '\n' << std::flush;
    open_line_ = false;
  }
}

std::string format_duration(double seconds) {
  char buffer[64];
  const long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ld h %02ld min", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buffer, sizeof(buffer), "%ld min %02ld s", s / 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ld s", s);
  }
  return buffer;
}

std::string fixed(double v, int digits) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, v);
  return buffer;
}

}  // namespace dcacn
