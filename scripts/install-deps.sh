#!/usr/bin/env bash
# Installs everything dcacn needs on Debian 12 (run as root, or with sudo available).
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also what bench/ compares against and uses (python3-torch,
#                                    sklearn, chromium)
#   scripts/install-deps.sh --fuzz   also clang (libFuzzer, sanitizers) for fuzz/run and
#                                    scripts/sanitize.sh
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libtorch-dev            # LibTorch 1.13 (CPU, oneDNN, Gloo)
  libgloo-dev             # Gloo's headers, for LibTorch's c10d (distributed training)
  libopenblas0-openmp     # fast BLAS for LibTorch's matrix products (OpenMP, like LibTorch)
  libcli11-dev            # command-line parsing
  nlohmann-json3-dev      # JSON output and config files
  libstb-dev              # image decoding and resizing
  libexif-dev             # EXIF orientation of photos
  zlib1g-dev              # gzipped IDX files
  libgtest-dev            # tests
  clang-format            # the formatting check of .ci/run
  dataset-fashion-mnist   # the embedded default dataset (real images, offline)
  gnuplot-nox             # the figures of `dcacn report` (pngcairo terminal)
  libcpp-httplib-dev      # the web server of `dcacn serve`
  chromium                # the browser test of `dcacn serve`'s page (scripts/browser-test.sh)
  fonts-dejavu-core       # their font
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-torch python3-torchvision python3-sklearn python3-scipy python3-pil time)
fi
if [[ "${1:-}" == "--fuzz" ]]; then
  packages+=(clang)
fi

# Node.js and npm drive the browser test (puppeteer-core, tests/browser/package-lock.json); a
# machine that already has them (another distribution's Node.js) keeps its own.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
