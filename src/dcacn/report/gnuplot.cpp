#include "dcacn/report/gnuplot.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {

std::string gnuplot_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

void run_gnuplot(const std::string& script_path, const std::string& script) {
  write_file_atomic(script_path, script);
  const std::filesystem::path path = std::filesystem::absolute(script_path);
  auto shell_quote = [](const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  const std::string command = "cd " + shell_quote(path.parent_path().string()) + " && gnuplot " +
                              shell_quote(path.filename().string()) + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  DCACN_CHECK(pipe != nullptr, "cannot start gnuplot for ", script_path);
  std::string output;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  const int status = pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  DCACN_CHECK(code != 127,
              "gnuplot is not installed (Debian: apt-get install gnuplot-nox); "
              "it draws the report's figures");
  DCACN_CHECK(code == 0, "gnuplot failed on ", script_path, " (exit status ", code, "): ", output);
}

}  // namespace dcacn
