#include "dcacn/util/torch_archive.h"

#include <caffe2/serialize/versions.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <functional>

#include "dcacn/util/error.h"

namespace dcacn {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

uint64_t le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;

// Argument of a pickle opcode: none or fixed bytes, a length prefix of 1, 4 or 8 bytes followed
// by that many bytes, or lines ending in '\n'.
struct OpcodeArgument {
  enum Kind { kFixed, kLengthPrefixed, kLines, kUnknown } kind = kUnknown;
  int bytes = 0;  // fixed size, or size of the length prefix, or number of lines
};

OpcodeArgument argument_of(uint8_t op) {
  using A = OpcodeArgument;
  switch (op) {
    // no argument
    case '(':
    case '.':
    case '0':
    case '1':
    case '2':
    case 'N':
    case 'R':
    case 'Q':
    case 'a':
    case 'b':
    case 'd':
    case '}':
    case 'e':
    case 'l':
    case ']':
    case 'o':
    case 's':
    case 'u':
    case 't':
    case ')':
    case 0x81:
    case 0x85:
    case 0x86:
    case 0x87:
    case 0x88:
    case 0x89:
    case 0x8f:
    case 0x90:
    case 0x91:
    case 0x92:
    case 0x93:
    case 0x94:
    case 0x97:
    case 0x98:
      return {A::kFixed, 0};
    case 'K':
    case 'q':
    case 'h':
    case 0x80:
    case 0x82:  // BININT1 BINPUT BINGET PROTO EXT1
      return {A::kFixed, 1};
    case 'M':
    case 0x83:  // BININT2 EXT2
      return {A::kFixed, 2};
    case 'J':
    case 'r':
    case 'j':
    case 0x84:  // BININT LONG_BINPUT LONG_BINGET EXT4
      return {A::kFixed, 4};
    case 'G':
    case 0x95:  // BINFLOAT FRAME
      return {A::kFixed, 8};
    case 'U':
    case 'C':
    case 0x8c:
    case 0x8a:                         // SHORT_BINSTRING SHORT_BINBYTES
      return {A::kLengthPrefixed, 1};  // SHORT_BINUNICODE LONG1
    case 'T':
    case 'X':
    case 'B':
    case 0x8b:  // BINSTRING BINUNICODE BINBYTES LONG4
      return {A::kLengthPrefixed, 4};
    case 0x8d:
    case 0x8e:
    case 0x96:  // BINUNICODE8 BINBYTES8 BYTEARRAY8
      return {A::kLengthPrefixed, 8};
    case 'I':
    case 'L':
    case 'F':
    case 'S':
    case 'V':
    case 'P':
    case 'g':
    case 'p':
      return {A::kLines, 1};
    case 'c':
    case 'i':  // GLOBAL INST: module and name
      return {A::kLines, 2};
    default:
      return {};
  }
}

}  // namespace

size_t pickle_opcode_end(const uint8_t* pickle, size_t size, size_t start,
                         const std::string& path) {
  size_t at = start;
  const uint8_t op = pickle[at++];
  const OpcodeArgument arg = argument_of(op);
  const size_t left = size - at;
  auto damaged = [&](const std::string& what) {
    return InputError(c10::str(path, ": data.pkl is damaged: opcode 0x", std::hex, int(op),
                               std::dec, " at byte ", start, " ", what));
  };
  switch (arg.kind) {
    case OpcodeArgument::kUnknown:
      throw damaged("is not a pickle opcode");
    case OpcodeArgument::kFixed:
      if (static_cast<size_t>(arg.bytes) > left) {
        throw damaged(c10::str("needs ", arg.bytes, " bytes, ", left, " left"));
      }
      at += arg.bytes;
      break;
    case OpcodeArgument::kLengthPrefixed: {
      if (static_cast<size_t>(arg.bytes) > left) {
        throw damaged(c10::str("needs a ", arg.bytes, "-byte length, ", left, " bytes left"));
      }
      const uint64_t length = le(pickle + at, arg.bytes);
      at += arg.bytes;
      if (length > size - at) {
        throw damaged(c10::str("declares ", length, " bytes, ", size - at, " left"));
      }
      at += length;
      break;
    }
    case OpcodeArgument::kLines:
      for (int line = 0; line < arg.bytes; ++line) {
        const void* end = std::memchr(pickle + at, '\n', size - at);
        if (end == nullptr) throw damaged("has no end of line");
        at = static_cast<size_t>(static_cast<const uint8_t*>(end) - pickle) + 1;
      }
      break;
  }
  return at;
}

void check_pickle_opcodes(const uint8_t* pickle, size_t size, const std::string& path) {
  for (size_t at = 0; at < size;) {
    const uint8_t op = pickle[at];
    at = pickle_opcode_end(pickle, size, at, path);
    if (op == '.') return;  // STOP
  }
  throw InputError(c10::str(path, ": data.pkl is damaged: it ends without a STOP opcode"));
}

namespace {

using Fail = std::function<InputError(const std::string&)>;

struct ZipDirectory {
  uint64_t entries = 0, size = 0, at = 0;
};

// The end-of-directory record (22 bytes and a comment of up to 65,535, at the end), and the
// zip64 one when it points there.
ZipDirectory find_directory(const uint8_t* b, uint64_t size, const Fail& fail) {
  int64_t end = -1;
  for (int64_t at = static_cast<int64_t>(size) - 22;
       at >= 0 && at >= static_cast<int64_t>(size) - 22 - 65535; --at) {
    if (le(b + at, 4) == kEndOfDirectory && at + 22 + le(b + at + 20, 2) == size) {
      end = at;
      break;
    }
  }
  if (end < 0) throw fail("no zip directory at its end (damaged, cut short, or not a .pt file)");
  ZipDirectory d;
  d.entries = le(b + end + 10, 2);
  d.size = le(b + end + 12, 4);
  d.at = le(b + end + 16, 4);
  uint64_t end_limit = static_cast<uint64_t>(end);
  if (end >= 20 && le(b + end - 20, 4) == kZip64Locator) {
    const uint64_t zip64_at = le(b + end - 20 + 8, 8);
    if (zip64_at > static_cast<uint64_t>(end) - 20 || end - 20 - zip64_at < 56 ||
        le(b + zip64_at, 4) != kZip64End) {
      throw fail("its zip64 directory record lies outside the file");
    }
    d.entries = le(b + zip64_at + 32, 8);
    d.size = le(b + zip64_at + 40, 8);
    d.at = le(b + zip64_at + 48, 8);
    end_limit = zip64_at;
  }
  if (d.at > end_limit || d.size > end_limit - d.at) {
    throw fail(c10::str("its zip directory (", d.size, " bytes at ", d.at,
                        ") lies outside the file of ", size, " bytes"));
  }
  if (d.entries == 0 || d.entries > d.size / 46) {
    throw fail(
        c10::str("its zip directory declares ", d.entries, " entries in ", d.size, " bytes"));
  }
  return d;
}

struct ZipEntry {
  std::string name;
  uint64_t flags = 0, method = 0, attributes = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, uncompressed = 0, local_at = 0;
  uint64_t entry_size = 0;  // of its directory record
};

// Directory entry `i` at `at`, with its zip64 sizes and offset.
ZipEntry read_entry(const uint8_t* b, uint64_t at, uint64_t directory_end, uint64_t i,
                    const Fail& fail) {
  if (directory_end - at < 46 || le(b + at, 4) != kDirectoryEntry) {
    throw fail(c10::str("zip directory entry ", i, " is damaged"));
  }
  ZipEntry e;
  e.flags = le(b + at + 8, 2);
  e.method = le(b + at + 10, 2);
  e.crc = static_cast<uint32_t>(le(b + at + 16, 4));
  e.compressed = le(b + at + 20, 4);
  e.uncompressed = le(b + at + 24, 4);
  const uint64_t name_length = le(b + at + 28, 2), extra_length = le(b + at + 30, 2);
  const uint64_t comment_length = le(b + at + 32, 2);
  e.attributes = le(b + at + 38, 4);
  e.local_at = le(b + at + 42, 4);
  e.entry_size = 46 + name_length + extra_length + comment_length;
  if (e.entry_size > directory_end - at) {
    throw fail(c10::str("zip directory entry ", i, " runs past the directory"));
  }
  e.name.assign(reinterpret_cast<const char*>(b + at + 46), name_length);
  // zip64 sizes and offset, in that order, for the fields that hold 0xFFFFFFFF.
  for (uint64_t x = at + 46 + name_length; x + 4 <= at + 46 + name_length + extra_length;) {
    const uint64_t id = le(b + x, 2), length = le(b + x + 2, 2);
    if (x + 4 + length > at + 46 + name_length + extra_length) break;
    if (id == 1) {
      uint64_t field = x + 4;
      for (uint64_t* value : {&e.uncompressed, &e.compressed, &e.local_at}) {
        if (*value == 0xFFFFFFFFu && field + 8 <= x + 4 + length) {
          *value = le(b + field, 8);
          field += 8;
        }
      }
    }
    x += 4 + length;
  }
  return e;
}

// Where the entry's data starts, after checking that LibTorch can read it: plain, stored, a
// file, with a matching local header and CRC-32.
uint64_t check_entry(const uint8_t* b, const ZipEntry& e, uint64_t directory_at, const Fail& fail) {
  const std::string& name = e.name;
  // Encrypted (bits 0 and 6, and 13 for the directory) or patched (bit 5) entries: LibTorch's
  // zip reader refuses to extract them, and leaks its state when that happens in the
  // version record.
  if ((e.flags & (0x1 | 0x20 | 0x40 | 0x2000)) != 0) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "%04x", static_cast<unsigned>(e.flags));
    throw fail(c10::str("entry ", name, " is encrypted or patched (flags 0x", hex,
                        "); PyTorch writes plain entries"));
  }
  // An entry marked as a folder (MS-DOS attribute bit 4, or a name ending in '/'): LibTorch's
  // zip reader extracts nothing from it, and leaks its state when that is the version record.
  if ((e.attributes & 0x10) != 0 || (!name.empty() && name.back() == '/')) {
    throw fail(c10::str("entry ", name, " is marked as a folder; PyTorch writes files only"));
  }
  if (e.method != 0 || e.compressed != e.uncompressed) {
    throw fail(c10::str("entry ", name, " is compressed (method ", e.method,
                        "); PyTorch stores its entries uncompressed"));
  }
  const uint64_t local_at = e.local_at;
  if (local_at > directory_at || directory_at - local_at < 30 ||
      le(b + local_at, 4) != kLocalHeader) {
    throw fail(c10::str("entry ", name, " has no local header at byte ", local_at));
  }
  const uint64_t local_name_length = le(b + local_at + 26, 2);
  if (local_name_length != name.size() || local_at + 30 + name.size() > directory_at ||
      std::memcmp(b + local_at + 30, name.data(), name.size()) != 0) {
    throw fail(c10::str("entry ", name, " has another name in its local header"));
  }
  const uint64_t data_at = local_at + 30 + le(b + local_at + 26, 2) + le(b + local_at + 28, 2);
  if (data_at > directory_at || e.compressed > directory_at - data_at) {
    throw fail(c10::str("entry ", name, " (", e.compressed, " bytes at ", data_at,
                        ") runs past the file's data"));
  }
  uLong sum = crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < e.compressed;) {
    const uInt piece = static_cast<uInt>(std::min<uint64_t>(e.compressed - done, 1u << 30));
    sum = crc32(sum, b + data_at + done, piece);
    done += piece;
  }
  if (static_cast<uint32_t>(sum) != e.crc) {
    throw fail(c10::str("entry ", name, " is damaged (its CRC-32 does not match)"));
  }
  return data_at;
}

// The format version record: a number LibTorch reads, and nothing after it but newlines.
void check_version_record(const std::string& name, const std::string& text, const Fail& fail) {
  const size_t digits = text.find_first_not_of("0123456789");
  const uint64_t version =
      digits == 0 || text.empty() || text.size() > 19 ? 0 : std::stoull(text.substr(0, digits));
  if (version < caffe2::serialize::kMinSupportedFileFormatVersion ||
      version > caffe2::serialize::kMaxSupportedFileFormatVersion ||
      text.find_first_not_of("\n", digits == std::string::npos ? text.size() : digits) !=
          std::string::npos) {
    throw fail(c10::str("its format version record ", name, " holds '", text.substr(0, 20),
                        "'; this LibTorch reads versions ",
                        caffe2::serialize::kMinSupportedFileFormatVersion, " to ",
                        caffe2::serialize::kMaxSupportedFileFormatVersion));
  }
}

}  // namespace

void check_torch_archive(const std::vector<uint8_t>& bytes, const std::string& path) {
  const uint8_t* b = bytes.data();
  const Fail fail = [&path](const std::string& what) {
    return InputError(c10::str(path, " is not a readable PyTorch file: ", what));
  };
  const ZipDirectory directory = find_directory(b, bytes.size(), fail);
  const uint64_t directory_end = directory.at + directory.size;
  // LibTorch's reader needs <prefix>/version (a supported format version) and
  // <prefix>/data.pkl, <prefix> being the first entry's folder; when it throws on their
  // absence it leaks its zip state, so they are checked here.
  std::string prefix;
  bool has_pickle = false, has_version = false;
  uint64_t at = directory.at;
  for (uint64_t i = 0; i < directory.entries; ++i) {
    const ZipEntry e = read_entry(b, at, directory_end, i, fail);
    const uint64_t data_at = check_entry(b, e, directory.at, fail);
    if (i == 0) {
      // LibTorch takes the first entry's folder as the prefix of every record.
      if (e.name.find('/') == std::string::npos) {
        throw fail(c10::str("its first entry, ", e.name, ", is not in a folder"));
      }
      prefix = e.name.substr(0, e.name.find('/'));
    }
    // LibTorch looks records up ignoring case: an entry that matches one of its records but for
    // case may be the one it reads, so it is checked as that record.
    const std::string record = lower(e.name);
    if (record == lower(prefix + "/data.pkl")) {
      check_pickle_opcodes(b + data_at, e.compressed, path);
      has_pickle = true;
    } else if (record == lower(prefix + "/version") || record == lower(prefix + "/.data/version")) {
      check_version_record(
          e.name, std::string(reinterpret_cast<const char*>(b + data_at), e.compressed), fail);
      has_version = true;
    }
    at += e.entry_size;
  }
  if (!has_pickle || !has_version) {
    throw fail(c10::str("no ", has_pickle ? prefix + "/version" : prefix + "/data.pkl", " entry"));
  }
}

}  // namespace dcacn
