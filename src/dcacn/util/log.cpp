#include "dcacn/util/log.h"

#include <atomic>
#include <iostream>
#include <mutex>

namespace dcacn {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mutex;
}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void log_info(const std::string& message) {
  if (g_level < static_cast<int>(LogLevel::kInfo)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::cerr << message << '\n';
}

void log_warning(const std::string& message) {
  if (g_level < static_cast<int>(LogLevel::kWarning)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::cerr << "warning: " << message << '\n';
}

}  // namespace dcacn
