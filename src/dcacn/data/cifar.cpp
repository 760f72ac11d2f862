#include "dcacn/data/cifar.h"

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

// The folder that directly holds the batch files: root itself or root/<subdir>.
std::string resolve_dir(const std::string& root, const std::string& subdir,
                        const std::string& probe_file, const std::string& expected) {
  DCACN_CHECK(is_directory(root), "data folder not found: ", root, " (expected ", expected, ")");
  if (is_file(root + "/" + probe_file)) return root;
  if (is_directory(root + "/" + subdir)) return root + "/" + subdir;
  return root;
}

void require_files(const std::string& dir, const std::vector<std::string>& names,
                   const std::string& expected) {
  for (const auto& name : names) {
    DCACN_CHECK(is_file(dir + "/" + name), "missing file ", dir, "/", name, " (expected ", expected,
                ")");
  }
}

// Reads the records of several files; checks that the label bytes (columns `label_cols`) are
// below `limits`.
Dataset read_batches(const std::string& dir, const std::vector<std::string>& files, int label_bytes,
                     const std::vector<int64_t>& limits, int64_t official_count,
                     const std::string& what) {
  std::vector<torch::Tensor> records;
  for (const auto& file : files) {
    const std::string path = dir + "/" + file;
    torch::Tensor rec = read_fixed_records(path, label_bytes + kPixels, what + " record");
    if (rec.size(0) != official_count) {
      log_warning(c10::str(path, " holds ", rec.size(0), " records; the official file has ",
                           official_count));
    }
    for (int b = 0; b < label_bytes; ++b) {
      const int64_t max_label = rec.select(1, b).max().item<int64_t>();
      if (max_label >= limits[b]) {
        const int64_t at = (rec.select(1, b) >= limits[b]).nonzero()[0][0].item<int64_t>();
        throw InputError(c10::str("label byte ", b, " of record ", at, " in ", path, " is ",
                                  rec[at][b].item<int64_t>(), "; expected 0..", limits[b] - 1,
                                  " (is this a ", what, " file?)"));
      }
    }
    records.push_back(rec);
  }
  torch::Tensor all = torch::cat(records, 0);
  Dataset out;
  out.labels = all.select(1, 0).to(torch::kInt64);
  out.images = all.slice(1, label_bytes).reshape({-1, 3, 32, 32}).contiguous();
  return out;
}

std::vector<std::string> optional_names(const std::string& path, size_t expected) {
  if (!is_file(path)) return {};
  auto names = read_lines(path);
  if (names.size() != expected) {
    log_warning(c10::str(path, " lists ", names.size(), " class names; expected ", expected,
                         ". Ignoring it."));
    return {};
  }
  return names;
}

}  // namespace

Dataset load_cifar10(const std::string& root, Split split) {
  const std::string expected =
      "cifar-10-batches-bin/ with data_batch_1.bin .. data_batch_5.bin and test_batch.bin";
  const std::string dir = resolve_dir(root, "cifar-10-batches-bin", "test_batch.bin", expected);
  DCACN_CHECK(split != Split::kUnlabeled, "CIFAR-10 has no unlabeled split");
  std::vector<std::string> files;
  if (split == Split::kTrain || split == Split::kAll) {
    for (int i = 1; i <= 5; ++i) files.push_back("data_batch_" + std::to_string(i) + ".bin");
  }
  if (split == Split::kTest || split == Split::kAll) files.push_back("test_batch.bin");
  require_files(dir, files, expected);
  Dataset out = read_batches(dir, files, 1, {10}, 10000, "CIFAR-10");
  out.class_names = optional_names(dir + "/batches.meta.txt", 10);
  if (out.class_names.empty()) {
    out.class_names = {"airplane", "automobile", "bird",  "cat",  "deer",
                       "dog",      "frog",       "horse", "ship", "truck"};
  }
  out.name = "cifar10 (" + split_name(split) + ")";
  return out;
}

Dataset load_cifar100(const std::string& root, Split split) {
  const std::string expected = "cifar-100-binary/ with train.bin and test.bin";
  const std::string dir = resolve_dir(root, "cifar-100-binary", "test.bin", expected);
  DCACN_CHECK(split != Split::kUnlabeled, "CIFAR-100 has no unlabeled split");
  std::vector<std::string> files;
  if (split == Split::kTrain || split == Split::kAll) files.push_back("train.bin");
  if (split == Split::kTest || split == Split::kAll) files.push_back("test.bin");
  require_files(dir, files, expected);
  std::vector<Dataset> parts;
  for (const auto& file : files) {
    parts.push_back(
        read_batches(dir, {file}, 2, {20, 100}, file == "train.bin" ? 50000 : 10000, "CIFAR-100"));
  }
  Dataset out = concat(parts, "cifar100 (" + split_name(split) + ", 20 coarse classes)");
  out.class_names = optional_names(dir + "/coarse_label_names.txt", 20);
  return out;
}

}  // namespace dcacn
