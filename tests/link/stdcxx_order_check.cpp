// Linked as dcacn's programs are (DCACN_STDCXX_ARCHIVE first), then beside
// tests/link/shadow_fs.cpp's library: std::filesystem::remove_all must be libstdc++'s, which
// removes the folder and counts its two entries, not the shadowing copy (CMakeLists.txt,
// DCACN_STATIC_LIBSTDCXX). The folder is made and looked at through POSIX calls: remove_all is the
// program's only std::filesystem operation, as when a pip LibTorch exports all the others a program
// calls, so no other call brings libstdc++'s own copy into the program.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

int main() {
  const std::string dir = "/tmp/dcacn_link_check_" + std::to_string(getpid());
  struct stat st;
  if (mkdir(dir.c_str(), 0700) != 0 || std::fopen((dir + "/file").c_str(), "w") == nullptr) {
    std::perror(dir.c_str());
    return 2;
  }
  const std::uintmax_t removed = std::filesystem::remove_all(std::filesystem::path(dir));
  const bool left = stat(dir.c_str(), &st) == 0;
  if (removed != 2 || left) {
    unlink((dir + "/file").c_str());
    rmdir(dir.c_str());
    std::fprintf(stderr,
                 "std::filesystem::remove_all returned %ju and %s %s: the program runs another "
                 "library's copy of libstdc++'s function\n",
                 removed, left ? "left" : "removed", dir.c_str());
    return 1;
  }
  std::puts("std::filesystem::remove_all is libstdc++'s");
  return 0;
}
