#pragma once
// Files in PyTorch's pickle format (torch::pickle_save), which Python's torch.load reads: the
// weights, checkpoint and embeddings files all use it.

#include <ATen/core/ivalue.h>

#include <string>

namespace dcacn {

/// Writes `value` through a temporary file and a rename.
void write_pickle(const std::string& path, const c10::IValue& value);

/// Reads a pickled value. On failure throws InputError "<context> (<N> bytes): <reason>",
/// where `context` says which file and what it should have been.
c10::IValue read_pickle(const std::string& path, const std::string& context);

}  // namespace dcacn
