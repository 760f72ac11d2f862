// Stands in for a library that exports its own copy of a libstdc++ function (PyTorch's pip
// LibTorch does, built by an older GCC): this remove_all removes nothing and returns a marker.
#include <cstdint>
#include <filesystem>

std::uintmax_t std::filesystem::remove_all(const std::filesystem::path&) { return 4242; }
