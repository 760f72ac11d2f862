#include "dcacn/util/pickle.h"

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/torch_archive.h"

namespace dcacn {

void write_pickle(const std::string& path, const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

namespace {

// How an opcode changes the unpickler's stack: values popped (kToMark: down to the topmost
// mark) and pushed (kMark: a mark). The kinds torch.save's pickles hold.
constexpr int kToMark = -1, kMark = -2;

std::pair<int, int> stack_effect(uint8_t op) {
  switch (op) {
    case '(':
      return {0, kMark};
    case 't':
    case 'l':
    case 'd':
    case 'o':
      return {kToMark, 1};
    case 'u':
    case 'e':
    case '1':
      return {kToMark, 0};
    case 0x85:
    case 'Q':
      return {1, 1};
    case 0x86:
    case 'R':
    case 0x81:
      return {2, 1};
    case 0x87:
      return {3, 1};
    case 'a':
    case '0':
      return {1, 0};
    case 's':
      return {2, 0};
    case 'q':
    case 'r':
    case 'p':
    case 0x80:
    case '.':
    case 0x94:  // MEMOIZE
    case 0x95:  // FRAME
      return {0, 0};
    case 0x93:  // STACK_GLOBAL
      return {2, 1};
    case '2':
      return {0, 1};
    default:  // every other kind pushes one value
      return {0, 1};
  }
}

// The pickle of a torch.save'd state dict in the opcodes LibTorch's unpickler reads:
// - collections.OrderedDict becomes a plain dict (LibTorch turns OrderedDict() into None, as the
//   only one it expects is a tensor's empty backward hooks): "OrderedDict ()" REDUCE becomes
//   EMPTY_DICT and the class's memo entry is dropped;
// - BUILD and the state it sets (an OrderedDict's attributes: a state dict's _metadata) are
//   left out;
// - SETITEM (one key and value; LibTorch has only SETITEMS) gets a MARK before its key and
//   becomes SETITEMS. The stack is followed, as byte offsets in the output where each value on
//   it begins, to know where the key began.
std::string plain_dicts(const std::string& in, const std::string& source) {
  const std::string ordered_dict = "collections\nOrderedDict\n";
  std::string out;
  std::vector<size_t> starts;     // where each stack entry's bytes begin in `out`
  std::vector<size_t> marks;      // indices into `starts` of the marks
  std::set<uint32_t> class_memo;  // memo entries holding the OrderedDict class
  bool class_on_stack = false;
  size_t i = 0;
  auto fail = [&](const std::string& why) {
    throw InputError(c10::str(source, ": ", why, " at byte ", i, " of its pickle"));
  };
  auto little = [&](size_t at, int bytes) {
    uint32_t v = 0;
    for (int b = bytes - 1; b >= 0; --b) v = (v << 8) | static_cast<uint8_t>(in[at + b]);
    return v;
  };
  auto pop = [&](int count, size_t& first) {
    if (count == kToMark) {
      if (marks.empty()) fail("a pickle with no mark to pop to");
      first = starts[marks.back()];
      starts.resize(marks.back());
      marks.pop_back();
      return;
    }
    if (static_cast<int>(starts.size()) < count) fail("a pickle that pops an empty stack");
    if (count > 0) first = starts[starts.size() - count];
    starts.resize(starts.size() - count);
    if (!marks.empty() && marks.back() >= starts.size()) fail("a pickle that pops a mark");
  };
  while (i < in.size()) {
    const uint8_t op = static_cast<uint8_t>(in[i]);
    size_t end =
        pickle_opcode_end(reinterpret_cast<const uint8_t*>(in.data()), in.size(), i, source);
    const bool is_put = op == 'q' || op == 'r', is_get = op == 'h' || op == 'j';
    const uint32_t memo = (is_put || is_get) ? little(i + 1, op == 'q' || op == 'h' ? 1 : 4) : 0;
    if (op == 'c' && in.compare(i + 1, ordered_dict.size(), ordered_dict) == 0) {
      class_on_stack = true;  // not emitted, not on the stack
    } else if (is_put && class_on_stack) {
      class_memo.insert(memo);
    } else if (is_get && class_memo.count(memo)) {
      class_on_stack = true;
    } else if (class_on_stack) {
      if (op != ')' || end >= in.size() || in[end] != 'R') {
        fail("an OrderedDict built from arguments");
      }
      starts.push_back(out.size());
      out += '}';
      end += 1;  // the REDUCE
      class_on_stack = false;
    } else if (op == 'b') {
      size_t state = 0;
      pop(1, state);
      out.erase(state);
    } else if (op == 's') {
      size_t key = 0;
      pop(2, key);
      out.insert(key, 1, '(');
      out += 'u';
    } else {
      const auto [popped, pushed] = stack_effect(op);
      size_t first = out.size();
      pop(popped, first);
      if (pushed == kMark) {
        marks.push_back(starts.size());
        starts.push_back(out.size());
      } else if (pushed == 1) {
        starts.push_back(popped == 0 ? out.size() : first);
      }
      out.append(in, i, end - i);
    }
    if (op == '.') break;
    i = end;
  }
  return out;
}

// A zip archive as torch.save writes it, its pickle made plain dicts first.
c10::IValue load_with_plain_dicts(const std::vector<uint8_t>& raw, const std::string& source) {
  caffe2::serialize::PyTorchStreamReader zip(
      std::make_shared<caffe2::serialize::MemoryReadAdapter>(raw.data(), raw.size()));
  const auto [data, size] = zip.getRecord("data.pkl");
  const std::string pickle =
      plain_dicts(std::string(static_cast<const char*>(data.get()), size), source);
  size_t at = 0;
  auto reader = [&](char* buffer, size_t n) {
    n = std::min(n, pickle.size() - at);
    std::memcpy(buffer, pickle.data() + at, n);
    at += n;
    return n;
  };
  auto record = [&](const std::string& name) { return std::get<0>(zip.getRecord("data/" + name)); };
  torch::jit::Unpickler unpickler(reader, nullptr, nullptr, record, c10::Device(c10::kCPU));
  return unpickler.parse_ivalue();
}

}  // namespace

c10::IValue read_pickle(const std::string& path, const std::string& context) {
  const std::vector<uint8_t> raw = read_file_bytes(path);
  try {
    check_torch_archive(raw, path);
  } catch (const InputError& e) {
    throw InputError(c10::str(context, " (", raw.size(), " bytes): ", e.what()));
  }
  try {
    c10::IValue value = torch::pickle_load(std::vector<char>(raw.begin(), raw.end()));
    if (!value.isNone()) return value;
  } catch (const c10::Error& e) {
    const std::string marker = "collections\nOrderedDict";
    if (std::search(raw.begin(), raw.end(), marker.begin(), marker.end()) == raw.end()) {
      throw InputError(
          c10::str(context, " (", raw.size(), " bytes): ", e.what_without_backtrace()));
    }
  }
  // Python's torch.save(OrderedDict) (a module's state_dict()): LibTorch reads it as None or
  // fails; read with its OrderedDicts made plain dicts.
  try {
    return load_with_plain_dicts(raw, path);
  } catch (const c10::Error& e) {
    throw InputError(c10::str(context, " (", raw.size(), " bytes): ", e.what_without_backtrace()));
  }
}

}  // namespace dcacn
