#pragma once
// Errors a user can cause (bad files, bad options). Their messages are meant to be read by a
// person: they name the file, the value and what was expected, and carry no C++ backtrace.
// Programming errors (wrong tensor shapes passed by our own code) go through TORCH_CHECK.

#include <c10/util/StringUtil.h>

#include <stdexcept>
#include <string>

namespace dcacn {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace dcacn

/// Throws dcacn::InputError with the arguments streamed together when `cond` is false.
#define DCACN_CHECK(cond, ...)                            \
  do {                                                    \
    if (!(cond)) {                                        \
      throw ::dcacn::InputError(::c10::str(__VA_ARGS__)); \
    }                                                     \
  } while (0)
