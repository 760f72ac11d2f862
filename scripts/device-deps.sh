#!/usr/bin/env bash
# Gathers, from this Debian machine, what a build on a machine with only CUDA, CMake and PyTorch
# lacks: the header-only libraries (CLI11, nlohmann-json), stb, libexif and cpp-httplib (headers
# and shared libraries, cpp-httplib's OpenSSL and Brotli with them), zlib's headers and library,
# and GoogleTest's sources, into one prefix folder (default .devdeps/, ignored by git). scripts/device-check.sh builds against it:
#   scripts/device-deps.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.devdeps}
rm -rf "$dir"
mkdir -p "$dir/include" "$dir/lib" "$dir/share/cmake" "$dir/src"
cp -a /usr/include/CLI /usr/include/nlohmann /usr/include/stb /usr/include/libexif \
  /usr/include/zlib.h /usr/include/zconf.h "$dir/include/"
# cpp-httplib (the review page's server) is a compiled library built with OpenSSL, zlib and
# Brotli support: its header needs their headers and the same three definitions (CMakeLists.txt).
cp -a /usr/include/httplib.h /usr/include/openssl /usr/include/brotli "$dir/include/"
cp -a /usr/include/x86_64-linux-gnu/openssl/. "$dir/include/openssl/"
cp -a /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json "$dir/share/cmake/"
multiarch=/usr/lib/x86_64-linux-gnu
cp -a "$multiarch"/libstb.so* "$multiarch"/libexif.so* "$multiarch"/libcpp-httplib.so* "$dir/lib/"
for lib in libssl.so.3 libcrypto.so.3 libbrotlicommon.so.1 libbrotlidec.so.1 libbrotlienc.so.1; do
  cp -aL "$multiarch/$lib" "$dir/lib/"
done
cp -a /lib/x86_64-linux-gnu/libz.so.1* "$dir/lib/"
ln -sf libz.so.1 "$dir/lib/libz.so"
cp -a /usr/src/googletest "$dir/src/googletest"
du -sh "$dir"
