#pragma once
// The review page's files (web/serve/), compiled into the program by CMake
// (cmake/embed_files.cmake), so that `dcacn serve` needs nothing beside its binary.

#include <string>
#include <vector>

namespace dcacn {

struct Asset {
  std::string path;          ///< URL path, e.g. "/app.js"
  std::string content_type;  ///< e.g. "text/javascript; charset=utf-8"
  std::string body;
};

const std::vector<Asset>& serve_assets();

}  // namespace dcacn
