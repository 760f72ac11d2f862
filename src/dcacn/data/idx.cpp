#include "dcacn/data/idx.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

const char* idx_type_name(uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return "unknown";
  }
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string out;
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? "x" : "") + std::to_string(dims[i]);
  return out;
}

// First of `dir/name.gz` and `dir/name` that exists, or "" when neither does.
std::string find_variant(const std::string& dir, const std::string& name) {
  for (const std::string& candidate : {dir + "/" + name + ".gz", dir + "/" + name}) {
    if (is_file(candidate)) return candidate;
  }
  return "";
}

const std::vector<std::string>& class_names(IdxFlavor flavor) {
  static const std::vector<std::string> kFashion = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  static const std::vector<std::string> kDigits = {"0", "1", "2", "3", "4",
                                                   "5", "6", "7", "8", "9"};
  return flavor == IdxFlavor::kFashionMnist ? kFashion : kDigits;
}

}  // namespace

torch::Tensor read_idx_ubyte(const std::string& path, int expected_dims) {
  // Read as a stream: the header, then exactly the bytes it declares, then one more to tell an
  // oversized file. A gzip file that inflates to far more than its header declares costs no
  // more than the declared size.
  FileReader in(path, /*gunzip=*/true);
  const uint32_t expected_magic = 0x0800u | static_cast<uint32_t>(expected_dims);
  char expected_hex[16];
  std::snprintf(expected_hex, sizeof(expected_hex), "0x%08X", expected_magic);
  const size_t header = 4 + 4 * static_cast<size_t>(expected_dims);
  std::vector<uint8_t> bytes(header);
  const size_t got = in.read(bytes.data(), 4);
  DCACN_CHECK(got >= 4, path, " is too short to be an IDX file (", got,
              " bytes); expected magic number ", expected_hex);
  const uint32_t magic = read_be32(bytes.data());
  char magic_hex[16];
  std::snprintf(magic_hex, sizeof(magic_hex), "0x%08X", magic);
  DCACN_CHECK(bytes[0] == 0 && bytes[1] == 0, "bad magic number ", magic_hex, " in ", path,
              ": not an IDX file (expected ", expected_hex, ")");
  DCACN_CHECK(bytes[2] == 0x08, path, " holds IDX data of type ", idx_type_name(bytes[2]),
              " (magic ", magic_hex, "); expected unsigned bytes (", expected_hex, ")");
  DCACN_CHECK(bytes[3] == expected_dims, path, " has ", int(bytes[3]), " dimensions (magic ",
              magic_hex, "); expected ", expected_dims, " (", expected_hex, ")");
  const size_t got_dims = in.read(bytes.data() + 4, header - 4);
  DCACN_CHECK(got_dims == header - 4, path, " is truncated inside its header: ", 4 + got_dims,
              " bytes, expected at least ", header);
  std::vector<int64_t> dims;
  uint64_t count = 1;
  bool overflow = false;
  for (int d = 0; d < expected_dims; ++d) {
    dims.push_back(read_be32(bytes.data() + 4 + 4 * d));
    overflow =
        overflow || __builtin_mul_overflow(count, static_cast<uint64_t>(dims.back()), &count);
  }
  DCACN_CHECK(!overflow, path, ": its header declares ", shape_text(dims),
              " values, more than 2^64 bytes");
  const uint64_t expected_bytes = header + count;
  check_fits_in_memory(count, path, c10::str("its header's ", shape_text(dims), " values"));
  // A plain file's size is known: a short or long one is told before any allocation.
  if (!in.gzipped()) {
    const uint64_t size = in.file_size();
    DCACN_CHECK(size >= expected_bytes, path, " is truncated: its header declares ",
                shape_text(dims), " values, which needs ", with_thousands(expected_bytes),
                " bytes, but it has ", with_thousands(size));
    DCACN_CHECK(size == expected_bytes, path, " is oversized: its header declares ",
                shape_text(dims), " values, which needs ", with_thousands(expected_bytes),
                " bytes, but it has ", with_thousands(size), " (",
                with_thousands(size - expected_bytes), " extra)");
  }
  // A plain file holds what its header declares (checked above): read it in place. A gzip
  // file's inflated size is known only by inflating it: read in pieces, so that memory follows
  // the data that is there, not what the header claims.
  torch::Tensor out;
  size_t data = 0;
  if (!in.gzipped()) {
    out = torch::empty(dims, torch::kUInt8);
    data = in.read(out.data_ptr<uint8_t>(), count);
  } else {
    std::vector<uint8_t> pieces;
    const size_t piece = size_t(1) << 24;
    while (pieces.size() < count) {
      const size_t want = std::min<uint64_t>(piece, count - pieces.size());
      const size_t at = pieces.size();
      pieces.resize(at + want);
      const size_t got = in.read(pieces.data() + at, want);
      pieces.resize(at + got);
      if (got < want) break;
    }
    data = pieces.size();
    if (data == count) {
      out = torch::empty(dims, torch::kUInt8);
      if (count > 0) std::memcpy(out.data_ptr<uint8_t>(), pieces.data(), count);
    }
  }
  DCACN_CHECK(data == count, path, " is truncated: its header declares ", shape_text(dims),
              " values, which needs ", with_thousands(expected_bytes), " bytes, but it has ",
              with_thousands(header + data), " (inflated)");
  uint8_t extra = 0;
  DCACN_CHECK(in.read(&extra, 1) == 0, path, " is oversized: its header declares ",
              shape_text(dims), " values, which needs ", with_thousands(expected_bytes),
              " bytes, but its inflated data goes on past them");
  return out;
}

Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  torch::Tensor images = read_idx_ubyte(images_path, 3);
  torch::Tensor labels = read_idx_ubyte(labels_path, 1);
  DCACN_CHECK(images.size(0) == labels.size(0), "image and label counts differ: ", images_path,
              " has ", images.size(0), " images but ", labels_path, " has ", labels.size(0),
              " labels");
  Dataset out;
  out.images = images.unsqueeze(1).contiguous();
  out.labels = labels.to(torch::kInt64);
  out.name = images_path;
  return out;
}

Dataset load_idx_dataset(const std::string& dir, Split split, IdxFlavor flavor) {
  DCACN_CHECK(is_directory(dir), "data folder not found: ", dir,
              " (expected a folder with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, gzipped or not)");
  DCACN_CHECK(split != Split::kUnlabeled, "IDX datasets have no unlabeled split");
  std::vector<std::string> prefixes;
  if (split == Split::kTrain || split == Split::kAll) prefixes.push_back("train");
  if (split == Split::kTest || split == Split::kAll) prefixes.push_back("t10k");
  std::vector<Dataset> parts;
  for (const auto& prefix : prefixes) {
    const std::string images_name = prefix + "-images-idx3-ubyte";
    const std::string labels_name = prefix + "-labels-idx1-ubyte";
    const std::string images_path = find_variant(dir, images_name);
    const std::string labels_path = find_variant(dir, labels_name);
    DCACN_CHECK(!images_path.empty(), "missing file in ", dir, ": ", images_name, ".gz (or ",
                images_name, "); an IDX dataset folder holds ", prefix,
                "-images-idx3-ubyte.gz and ", prefix, "-labels-idx1-ubyte.gz");
    DCACN_CHECK(!labels_path.empty(), "missing file in ", dir, ": ", labels_name, ".gz (or ",
                labels_name, "); an IDX dataset folder holds ", prefix,
                "-images-idx3-ubyte.gz and ", prefix, "-labels-idx1-ubyte.gz");
    parts.push_back(read_idx_pair(images_path, labels_path));
  }
  const auto& names = class_names(flavor);
  const std::string flavor_name = flavor == IdxFlavor::kFashionMnist ? "fashion-mnist" : "mnist";
  Dataset out = concat(parts, flavor_name + " (" + split_name(split) + ")");
  const int64_t max_label = out.labels.numel() ? out.labels.max().item<int64_t>() : 0;
  DCACN_CHECK(max_label < static_cast<int64_t>(names.size()), "label ", max_label, " in ", dir,
              " is out of range: ", flavor_name, " has ", names.size(), " classes (0..",
              names.size() - 1, ")");
  out.class_names = names;
  return out;
}

}  // namespace dcacn
