#include "dcacn/util/pickle.h"

#include <torch/serialize.h>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/torch_archive.h"

namespace dcacn {

void write_pickle(const std::string& path, const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

c10::IValue read_pickle(const std::string& path, const std::string& context) {
  const std::vector<uint8_t> raw = read_file_bytes(path);
  try {
    check_torch_archive(raw, path);
  } catch (const InputError& e) {
    throw InputError(c10::str(context, " (", raw.size(), " bytes): ", e.what()));
  }
  try {
    return torch::pickle_load(std::vector<char>(raw.begin(), raw.end()));
  } catch (const c10::Error& e) {
    throw InputError(c10::str(context, " (", raw.size(), " bytes): ", e.what_without_backtrace()));
  }
}

}  // namespace dcacn
