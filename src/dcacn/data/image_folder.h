#pragma once
// Folders of image files, as users and ImageNet-10 have them.
//
//   root/<class>/<...>/<image>   labelled: one sub-folder per class (sorted by name, as
//                                torchvision's ImageFolder does), searched recursively
//   root/<image>                 flat: no labels
// JPEG, PNG, BMP, GIF (first frame), TGA, PSD and PNM are decoded by stb_image and turned
// upright as their EXIF orientation says (libexif). Every image then becomes
// image_size x image_size as torchvision's Resize(s) + CenterCrop(s) makes it (the central
// square, resized with stb's filtered resampler), or, with `squash`, the whole image resized
// to s x s without keeping its aspect ratio.

#include <string>
#include <vector>

#include "dcacn/data/dataset.h"

namespace dcacn {

struct ImageFolderOptions {
  /// Side of the square every image is resized to, in pixels.
  int64_t image_size = 96;
  /// 3: RGB (grayscale images are replicated); 1: luminance (colour images are converted).
  int64_t channels = 3;
  /// true: the whole image resized to a square; false: its central square.
  bool squash = false;
  /// true: an unreadable image is an error. false: it is skipped, with one warning that counts
  /// and names the skipped files.
  bool strict = false;
  /// Largest width x height an image's header may declare; a larger one is not decoded (it
  /// counts as unreadable). 2^28 pixels take 768 MiB as RGB.
  int64_t max_pixels = int64_t(1) << 28;
};

/// True when `path` has an image extension the reader decodes (case-insensitive).
bool is_image_file(const std::string& path);

/// Image files under `root`, recursively (following symbolic links to folders, each folder
/// once: a link back to a folder already listed is skipped with a warning), in sorted order.
std::vector<std::string> list_image_files(const std::string& root);

/// Decodes and resizes `files` in parallel (both cores); InputError before anything is
/// decoded when the decoded images would not fit in memory. Returns [M, C, S, S] uint8 for the M
/// files that decoded; `failed` receives "path: reason" for the others, in input order, and
/// `kept` the indices (into `files`) of the decoded ones.
torch::Tensor decode_images(const std::vector<std::string>& files,
                            const ImageFolderOptions& options, std::vector<int64_t>* kept,
                            std::vector<std::string>* failed);

/// The images of a labelled or flat folder (see above), without decoding them: InputError for
/// a missing folder, class folders mixed with loose images, or no image at all.
struct ImageFolderListing {
  std::vector<std::string> files;
  /// Per file, its class (labelled folders); empty for a flat one.
  std::vector<int64_t> labels;
  std::vector<std::string> class_names;
  bool labelled() const { return !class_names.empty(); }
};
ImageFolderListing list_image_folder(const std::string& root);

/// What an image file's header declares (nothing is decoded). `error` is set, and the sizes 0,
/// when the file cannot be read or is not an image the reader decodes.
struct ImageHeader {
  int64_t width = 0, height = 0;
  /// 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
  int64_t channels = 0;
  std::string error;
};
ImageHeader read_image_header(const std::string& path);

/// Reads a labelled or flat image folder (see above).
Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options);

}  // namespace dcacn
