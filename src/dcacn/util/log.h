#pragma once
// Minimal diagnostics to stderr: progress and warnings are for people, results go to stdout.

#include <string>

namespace dcacn {

enum class LogLevel { kQuiet = 0, kWarning = 1, kInfo = 2 };

/// Process-wide verbosity; commands set it from --quiet / --verbose.
void set_log_level(LogLevel level);
LogLevel log_level();

void log_info(const std::string& message);
void log_warning(const std::string& message);

}  // namespace dcacn
