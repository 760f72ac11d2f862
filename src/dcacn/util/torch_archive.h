#pragma once
// Structural check of a PyTorch file (torch.save / torch::pickle_save: a zip archive of stored
// entries, a pickle "*/data.pkl" and tensor records) before LibTorch's own reader sees it.
// LibTorch 1.13's reader trusts the archive: fuzzing found a use-after-free in its zip
// directory parsing on a file with no directory, and an unpickler that allocates whatever
// length a byte-string opcode declares. Files from elsewhere (checkpoints or embeddings
// someone sent) are checked here first, so that a damaged or hostile one is refused with a
// message naming the file and what is wrong with it.

#include <cstdint>
#include <string>
#include <vector>

namespace dcacn {

/// Throws InputError "<path>: ..." unless `bytes` is a zip archive whose end record, central
/// directory and local headers lie inside the file (zip64 records included), whose entries are
/// stored (not compressed) under the same names in both headers, with matching CRC-32s, that
/// has a <prefix>/version record of a format version this LibTorch reads and a
/// <prefix>/data.pkl that is a sequence of pickle opcodes whose arguments all lie inside it.
void check_torch_archive(const std::vector<uint8_t>& bytes, const std::string& path);

/// Throws InputError "<path>: data.pkl ..." unless `pickle` is a sequence of known pickle
/// opcodes (protocols 0-5) ending with STOP whose arguments (fixed-size, length-prefixed or
/// newline-terminated) all lie inside it.
void check_pickle_opcodes(const uint8_t* pickle, size_t size, const std::string& path);

/// The offset just past the opcode at `start` of `pickle` and its argument; InputError as
/// check_pickle_opcodes when the opcode is unknown or its argument runs past `size`.
size_t pickle_opcode_end(const uint8_t* pickle, size_t size, size_t start, const std::string& path);

}  // namespace dcacn
