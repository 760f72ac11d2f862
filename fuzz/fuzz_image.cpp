// One image of a folder, through the decoder path of image folders (stb_image, EXIF, resize):
// the first byte picks the extension (which decides whether EXIF is read) and the channels.
#include "dcacn/data/image_folder.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dcacn;
  if (size == 0) return 0;
  static const char* kExtensions[] = {".jpg", ".png", ".bmp", ".gif",
                                      ".tga", ".psd", ".pnm", ".jpeg"};
  const std::string path =
      fuzz::write_input(std::string("image") + kExtensions[data[0] & 7], data + 1, size - 1);
  ImageFolderOptions options;
  options.image_size = 16;
  options.channels = (data[0] & 8) ? 1 : 3;
  options.max_pixels = int64_t(1) << 22;  // within libFuzzer's memory limit
  std::vector<int64_t> kept;
  std::vector<std::string> failed;
  fuzz::expect_clean([&] { decode_images({path}, options, &kept, &failed); });
  return 0;
}
