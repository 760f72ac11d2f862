#include "dcacn/data/image_folder.h"

#include <ATen/Parallel.h>
#include <libexif/exif-data.h>
#include <stb_image.h>
#include <stb_image_resize.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <limits>
#include <set>

#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The EXIF orientation (1-8) of a JPEG file from its bytes; 1 (as stored) when it has none.
int exif_orientation(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string ext = lower(fs::path(path).extension().string());
  if (ext != ".jpg" && ext != ".jpeg") return 1;
  ExifData* data = exif_data_new_from_data(bytes.data(), static_cast<unsigned>(bytes.size()));
  if (data == nullptr) return 1;
  int orientation = 1;
  ExifEntry* entry = exif_data_get_entry(data, EXIF_TAG_ORIENTATION);
  if (entry != nullptr && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1) {
    orientation = exif_get_short(entry->data, exif_data_get_byte_order(data));
  }
  exif_data_unref(data);
  return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

// The pixels [h, w, c] as they are meant to be shown under EXIF `orientation`: 2 mirrored,
// 3 rotated 180 degrees, 4 flipped, 5 transposed, 6 rotated 90 clockwise, 7 transversed,
// 8 rotated 90 counter-clockwise. Updates w and h.
std::vector<uint8_t> apply_orientation(const uint8_t* px, int* w, int* h, int c, int orientation) {
  const int sw = *w, sh = *h;
  const bool swap = orientation >= 5;
  const int ow = swap ? sh : sw, oh = swap ? sw : sh;
  std::vector<uint8_t> out(static_cast<size_t>(ow) * oh * c);
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      int sx = x, sy = y;  // the source pixel of output pixel (x, y)
      switch (orientation) {
        case 2:
          sx = sw - 1 - x;
          break;
        case 3:
          sx = sw - 1 - x;
          sy = sh - 1 - y;
          break;
        case 4:
          sy = sh - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = sh - 1 - x;
          break;
        case 7:
          sx = sw - 1 - y;
          sy = sh - 1 - x;
          break;
        case 8:
          sx = sw - 1 - y;
          sy = x;
          break;
        default:
          break;
      }
      std::copy_n(px + (static_cast<size_t>(sy) * sw + sx) * c, c,
                  out.data() + (static_cast<size_t>(y) * ow + x) * c);
    }
  }
  *w = ow;
  *h = oh;
  return out;
}

// "" when the PNG chunks in `bytes` (a file that starts with PNG's signature) each lie inside
// it, else what is wrong: stb_image allocates a chunk's declared length (up to 2 GB) before
// reading it.
std::string check_png_chunks(const std::vector<uint8_t>& bytes) {
  size_t at = 8;
  while (at < bytes.size()) {
    if (bytes.size() - at < 12) {
      return c10::str("PNG chunk at byte ", at, " is cut short: ", bytes.size() - at,
                      " bytes, a chunk has at least 12");
    }
    const uint64_t length = (uint64_t(bytes[at]) << 24) | (uint64_t(bytes[at + 1]) << 16) |
                            (uint64_t(bytes[at + 2]) << 8) | uint64_t(bytes[at + 3]);
    std::string type(reinterpret_cast<const char*>(bytes.data() + at + 4), 4);
    for (char& c : type) c = std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    if (length > bytes.size() - at - 12) {
      return c10::str("PNG chunk '", type, "' at byte ", at, " declares ", length,
                      " bytes, but the file has ", bytes.size() - at - 12, " after it");
    }
    at += 12 + length;
    if (type == "IEND") break;
  }
  return "";
}

// Decodes one file into `out` ([S, S, C] interleaved): upright as EXIF says, then the central
// square resized to S (torchvision's Resize(S) + CenterCrop(S)), or the whole image squashed
// to S x S. Returns "" or the reason it failed.
std::string decode_one(const std::string& path, const ImageFolderOptions& o, uint8_t* out) {
  const int size = static_cast<int>(o.image_size), channels = static_cast<int>(o.channels);
  int w = 0, h = 0, source_channels = 0;
  std::vector<uint8_t> bytes;
  try {
    bytes = read_file_bytes(path);
  } catch (const InputError& e) {
    return e.what();
  }
  static const uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::equal(kPngSignature, kPngSignature + 8, bytes.begin())) {
    const std::string damaged = check_png_chunks(bytes);
    if (!damaged.empty()) return damaged;
  }
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return "larger than the 2 GB an image file may have";
  }
  const auto* data = bytes.data();
  const int size_bytes = static_cast<int>(bytes.size());
  // The header first: an image that declares more pixels than allowed is not decoded.
  if (stbi_info_from_memory(data, size_bytes, &w, &h, &source_channels) == 0) {
    const char* reason = stbi_failure_reason();
    return reason ? reason : "cannot decode";
  }
  // A damaged header can give an empty image (a PNM with no digits for its width: 0).
  if (w <= 0 || h <= 0) return c10::str("its header declares ", w, "x", h, " pixels");
  if (static_cast<int64_t>(w) * h > o.max_pixels) {
    return c10::str("its header declares ", w, "x", h, " pixels, more than the ", o.max_pixels,
                    " an image may have");
  }
  uint8_t* decoded = stbi_load_from_memory(data, size_bytes, &w, &h, &source_channels, channels);
  if (decoded == nullptr) {
    const char* reason = stbi_failure_reason();
    return reason ? reason : "cannot decode";
  }
  if (w <= 0 || h <= 0) {
    stbi_image_free(decoded);
    return c10::str("decoded to ", w, "x", h, " pixels");
  }
  std::vector<uint8_t> upright;
  const uint8_t* pixels = decoded;
  const int orientation = exif_orientation(path, bytes);
  if (orientation != 1) {
    upright = apply_orientation(decoded, &w, &h, channels, orientation);
    pixels = upright.data();
  }
  int cw = w, ch = h, x0 = 0, y0 = 0;  // the region that becomes the S x S image
  if (!o.squash) {
    cw = ch = std::min(w, h);
    x0 = (w - cw) / 2;
    y0 = (h - ch) / 2;
  }
  const int stride = w * channels;
  const uint8_t* region = pixels + static_cast<size_t>(y0) * stride + x0 * channels;
  int ok = 1;
  if (cw == size && ch == size) {
    for (int y = 0; y < size; ++y) {
      std::copy_n(region + static_cast<size_t>(y) * stride, size * channels,
                  out + static_cast<size_t>(y) * size * channels);
    }
  } else {
    ok = stbir_resize_uint8(region, cw, ch, stride, out, size, size, 0, channels);
  }
  stbi_image_free(decoded);
  return ok ? "" : "resize failed";
}

}  // namespace

bool is_image_file(const std::string& path) {
  static const std::vector<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp", ".gif",
                                                       ".tga", ".psd",  ".ppm", ".pgm", ".pnm"};
  const std::string ext = lower(fs::path(path).extension().string());
  return std::find(kExtensions.begin(), kExtensions.end(), ext) != kExtensions.end();
}

std::vector<std::string> list_image_files(const std::string& root) {
  std::vector<std::string> files;
  // Folders by (device, inode): a symbolic link back to one already listed (a loop, or two
  // links to one folder) is not entered again.
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<std::string> again;
  auto first_visit = [&seen](const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return true;  // the iterator reports the error
    return seen.insert({st.st_dev, st.st_ino}).second;
  };
  first_visit(root);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(
           root, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string path = it->path().string();
    if (it->is_directory(ec)) {
      if (!first_visit(path)) {
        it.disable_recursion_pending();
        again.push_back(path);
      }
    } else if (it->is_regular_file(ec) && is_image_file(path)) {
      files.push_back(path);
    }
    ec.clear();  // a broken link: neither a file nor a folder
  }
  DCACN_CHECK(!ec, "cannot list ", root, ": ", ec.message());
  if (!again.empty()) {
    log_warning(c10::str("skipped ", again.size(), " link", again.size() > 1 ? "s" : "",
                         " to folders already listed under ", root, " (first: ", again.front(),
                         ")"));
  }
  std::sort(files.begin(), files.end());
  return files;
}

torch::Tensor decode_images(const std::vector<std::string>& files,
                            const ImageFolderOptions& options, std::vector<int64_t>* kept,
                            std::vector<std::string>* failed) {
  TORCH_CHECK(options.channels == 1 || options.channels == 3, "image channels must be 1 or 3, got ",
              options.channels);
  TORCH_CHECK(options.image_size > 0 && options.image_size <= 4096,
              "image size must be in 1..4096, got ", options.image_size);
  const int size = static_cast<int>(options.image_size);
  const int channels = static_cast<int>(options.channels);
  const int64_t n = static_cast<int64_t>(files.size());
  const int64_t stride = static_cast<int64_t>(size) * size * channels;
  check_fits_in_memory(static_cast<uint64_t>(n) * static_cast<uint64_t>(stride),
                       n > 0 ? fs::path(files.front()).parent_path().string() : "",
                       c10::str(n, " images decoded at ", size, "x", size, "x", channels));
  torch::Tensor hwc = torch::empty({n, size, size, channels}, torch::kUInt8);
  std::vector<std::string> reasons(files.size());
  uint8_t* base = hwc.data_ptr<uint8_t>();
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      reasons[i] = decode_one(files[i], options, base + i * stride);
    }
  });
  std::vector<int64_t> good;
  for (int64_t i = 0; i < n; ++i) {
    if (reasons[i].empty()) {
      good.push_back(i);
    } else if (failed) {
      failed->push_back(files[i] + ": " + reasons[i]);
    }
  }
  if (kept) *kept = good;
  torch::Tensor index = torch::tensor(good, torch::kInt64);
  torch::Tensor images = static_cast<int64_t>(good.size()) == n ? hwc : hwc.index_select(0, index);
  // clone, not contiguous(): with one channel the permuted view already counts as contiguous,
  // but its NHWC strides make convolutions take their channels-last path.
  return images.permute({0, 3, 1, 2}).clone(torch::MemoryFormat::Contiguous);
}

ImageFolderListing list_image_folder(const std::string& root) {
  DCACN_CHECK(is_directory(root), "image folder not found: ", root,
              " (expected root/<class>/<image> or a flat folder of JPEG/PNG images)");
  std::vector<std::string> class_dirs, loose;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.is_directory()) {
      class_dirs.push_back(entry.path().filename().string());
    } else if (entry.is_regular_file() && is_image_file(entry.path().string())) {
      loose.push_back(entry.path().string());
    }
  }
  DCACN_CHECK(!ec, "cannot list ", root, ": ", ec.message());
  std::sort(class_dirs.begin(), class_dirs.end());
  std::sort(loose.begin(), loose.end());

  ImageFolderListing out;
  for (const auto& name : class_dirs) {
    auto in_class = list_image_files(root + "/" + name);
    if (in_class.empty()) continue;  // e.g. a stray empty folder: not a class
    for (auto& f : in_class) {
      out.files.push_back(std::move(f));
      out.labels.push_back(static_cast<int64_t>(out.class_names.size()));
    }
    out.class_names.push_back(name);
  }
  if (out.labelled()) {
    DCACN_CHECK(loose.empty(), root, " mixes class folders with ", loose.size(),
                " loose images (first: ", loose.empty() ? "" : loose.front(),
                "); put every image in a class folder, or use a flat folder without labels");
  } else {
    out.files = loose;
  }
  DCACN_CHECK(!out.files.empty(), "no images found in ", root,
              " (looked for .jpg .jpeg .png .bmp .gif .tga .psd .ppm .pgm .pnm files)");
  return out;
}

ImageHeader read_image_header(const std::string& path) {
  ImageHeader h;
  int w = 0, ht = 0, c = 0;
  if (stbi_info(path.c_str(), &w, &ht, &c) == 0 || w <= 0 || ht <= 0) {
    const char* reason = stbi_failure_reason();
    h.error = reason ? reason : "cannot read its header";
    return h;
  }
  h.width = w;
  h.height = ht;
  h.channels = c;
  return h;
}

Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options) {
  const ImageFolderListing listing = list_image_folder(root);
  const std::vector<std::string>& files = listing.files;
  const bool labelled = listing.labelled();

  std::vector<int64_t> kept;
  std::vector<std::string> failed;
  Dataset out;
  out.images = decode_images(files, options, &kept, &failed);
  if (!failed.empty()) {
    std::string list;
    for (size_t i = 0; i < failed.size() && i < 20; ++i) list += "\n  " + failed[i];
    if (failed.size() > 20) list += c10::str("\n  ... and ", failed.size() - 20, " more");
    DCACN_CHECK(!options.strict, failed.size(), " of ", files.size(), " images in ", root,
                " cannot be read (--strict):", list);
    log_warning(c10::str("skipped ", failed.size(), " of ", files.size(),
                         " images that cannot be read:", list));
  }
  DCACN_CHECK(!kept.empty(), "none of the ", files.size(), " images in ", root,
              " could be decoded");
  for (int64_t i : kept) out.paths.push_back(files[i]);
  if (labelled) {
    std::vector<int64_t> kept_labels;
    for (int64_t i : kept) kept_labels.push_back(listing.labels[i]);
    out.labels = torch::tensor(kept_labels, torch::kInt64);
    out.class_names = listing.class_names;
  }
  out.name = c10::str("folder ", root, labelled ? " (labelled)" : " (unlabelled)");
  return out;
}

}  // namespace dcacn
