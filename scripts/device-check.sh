#!/usr/bin/env bash
# The GPU check, for a machine with CUDA, CMake and PyTorch 2.x but no Debian packages: builds
# dcacn against that PyTorch's LibTorch (CUDA), runs the test suite (tests/cuda/ runs only where
# a GPU is visible), then trains the paper-cifar10 preset for a few hundred steps on CIFAR-10-format
# files that it writes, and records images/s and GPU memory in OUT/device_check.md.
#   scripts/device-deps.sh            # here, on Debian: gathers the dependencies into .devdeps/
#   scripts/device-check.sh OUT [STEPS]   # there (the device tool carries .devdeps); STEPS 0
#                                         # stops after the tests; DCACN_TEST_LIMIT: seconds (270)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/device-check.sh OUT [STEPS]}
steps=${2:-200}
mkdir -p "$out"
root=$PWD
report=$out/device_check.md
exec > >(tee -a "$out/device_check.log") 2>&1
section() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

section machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_version=$(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)')
echo "torch $torch_version; $(nproc) cores"
torch_include=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "include"))')
echo "c10d headers: $(ls "$torch_include/torch/csrc/distributed/c10d" 2>/dev/null | grep -cE 'hpp$') files;" \
  "gloo headers: $(ls -d "$torch_include/gloo" 2>/dev/null || echo none);" \
  "NCCL backend header: $(ls "$torch_include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp" 2>/dev/null || echo none)"

echo "libstdc++ symbols exported by libtorch_cpu.so: $(nm -D --defined-only \
  "$torch_prefix/../../lib/libtorch_cpu.so" 2>/dev/null | grep -c ' [TW] _ZNSt10filesystem')"

section configure
export CMAKE_POLICY_VERSION_MINIMUM=3.5 TORCH_CUDA_ARCH_LIST=9.0
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
# NCCL's header and library come with PyTorch's nvidia-nccl package.
nccl_root=$(python3 -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null)
echo "NCCL: ${nccl_root:-none}"
nccl=OFF; [[ -n "$nccl_root" && -f "$nccl_root/include/nccl.h" ]] && nccl=ON
cmake -S . -B build-cuda "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$root/.devdeps" -DDCACN_NCCL=$nccl \
  -DDCACN_NCCL_ROOT="$nccl_root" -DDCACN_STATIC_LIBSTDCXX=ON \
  -DDCACN_BUILD_BENCH=OFF -DDCACN_GTEST_SOURCE_DIR="$root/.devdeps/src/googletest" \
  >"$out/configure.log" 2>&1
configure_rc=$?
tail -5 "$out/configure.log"

# cpp-httplib's own needs (OpenSSL 3, Brotli) from .devdeps, for those the machine lacks.
mkdir -p build-cuda/missing-libs
for lib in libssl.so.3 libcrypto.so.3 libbrotlicommon.so.1 libbrotlidec.so.1 libbrotlienc.so.1; do
  ldconfig -p | grep -q "$lib " || ln -sf "$root/.devdeps/lib/$lib" build-cuda/missing-libs/
done
echo "taken from .devdeps: $(ls build-cuda/missing-libs | tr '\n' ' ')"
export LD_LIBRARY_PATH=$root/build-cuda/missing-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

section build
start=$(date +%s)
cmake --build build-cuda -j"$(nproc)" -- -k 0 >"$out/build.log" 2>&1
build_rc=$?
if [[ $build_rc -ne 0 && $nccl == ON ]]; then  # keep the rest of the check: build without NCCL
  grep -E "error" "$out/build.log" | head -20
  echo "the build with NCCL failed; building without it"
  nccl=FAILED
  cmake -S . -B build-cuda -DDCACN_NCCL=OFF >>"$out/configure.log" 2>&1
  cmake --build build-cuda -j"$(nproc)" >"$out/build-no-nccl.log" 2>&1
  build_rc=$?
fi
build_s=$(($(date +%s) - start))
grep -E "error|Error" "$out/build.log" | head -40
echo "build rc $build_rc in ${build_s}s"
readelf -d build-cuda/dcacn_tests | grep NEEDED | head -4

section tests
# The CUDA tests first; then the suite, 8 tests at a time with 2 threads each (16 tests of 16
# OpenMP threads each ran past their timeouts).
cuda_tests=$(cd build-cuda && ./dcacn_tests --gtest_filter='CudaTest.*' 2>&1 | tail -8)
echo "$cuda_tests"
start=$(date +%s)
(cd build-cuda && OMP_NUM_THREADS=2 timeout "${DCACN_TEST_LIMIT:-270}" ctest -j8 --timeout 200 --output-on-failure \
  >"$out/ctest.log" 2>&1)
test_rc=$?
test_s=$(($(date +%s) - start))
grep -E "tests passed|\*\*\*|Not Run|Timeout" "$out/ctest.log" | head -40
if grep -q SegFault "$out/ctest.log"; then  # a backtrace of the first crash
  first=$(grep -m1 -oE 'Test +#[0-9]+: [A-Za-z0-9_.]+ .*SegFault' "$out/ctest.log" | awk '{print $3}')
  cuda-gdb -batch -ex run -ex bt --args build-cuda/dcacn_tests --gtest_filter="$first" 2>&1 |
    grep -E '^#' | head -20
fi

section train paper-cifar10
[[ $steps -gt 0 ]] || { echo "skipped (STEPS 0)"; exit 0; }
data=$root/build-cuda/cifar-data
python3 - "$data" <<'EOF'
import os, sys
import numpy as np
# CIFAR-10 binary format: per record one label byte and 3072 bytes (R, G, B planes of 32x32).
# Each class has its own colour and stripe orientation, on noise, so the clusters are learnable.
rng = np.random.default_rng(0)
d = os.path.join(sys.argv[1], "cifar-10-batches-bin")
os.makedirs(d, exist_ok=True)
yy, xx = np.mgrid[0:32, 0:32]
def batch(name, n):
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    img = rng.integers(0, 80, (n, 3, 32, 32)).astype(np.int64)
    colour = (np.stack([np.arange(10) * 17 % 120, np.arange(10) * 53 % 120,
                        np.arange(10) * 91 % 120], 1) + 60)
    img += colour[labels][:, :, None, None]
    stripes = (np.stack([((xx * np.cos(k * 0.31) + yy * np.sin(k * 0.31)) // 4 % 2)
                         for k in range(10)]) * 60).astype(np.int64)
    img += stripes[labels][:, None]
    rec = np.concatenate([labels[:, None], np.clip(img, 0, 255).astype(np.uint8).reshape(n, -1)], 1)
    rec.tofile(os.path.join(d, name))
for i in range(1, 6):
    batch(f"data_batch_{i}.bin", 10000)
batch("test_batch.bin", 10000)
EOF
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$out/gpu_memory.csv" &
smi=$!
start=$(date +%s.%N)
./build-cuda/dcacn train --preset paper-cifar10 --data "$data" --max-steps "$steps" \
  --out "$root/build-cuda/run-cifar" --overwrite 2>&1 | tail -25
train_rc=${PIPESTATUS[0]}
train_s=$(python3 -c "import time; print(round(time.time() - $start, 1))")
kill $smi 2>/dev/null
peak_mib=$(sort -n "$out/gpu_memory.csv" | tail -1)
rows=$(python3 - "$root/build-cuda/run-cifar/metrics.csv" <<'EOF'
import csv, sys
try:
    rows = list(csv.DictReader(open(sys.argv[1])))
except OSError:
    rows = []
print("; ".join(f"epoch {r['epoch']} (step {r['step']}): {r['images_per_second']} images/s, "
                f"ACC {r['acc']}" for r in rows) or "no metrics.csv")
EOF
)
cp "$root/build-cuda/run-cifar/metrics.csv" "$out/metrics.csv" 2>/dev/null
cp "$root/build-cuda/run-cifar/config.json" "$out/config.json" 2>/dev/null

{
  echo "# GPU check: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Command: \`scripts/device-check.sh OUT $steps\` at $(git rev-parse --short HEAD 2>/dev/null)"
  echo "Machine: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader), $(nproc) cores;"
  echo "torch (LibTorch) $torch_version."
  echo
  echo "| step | result |"
  echo "|---|---|"
  echo "| configure | rc $configure_rc |"
  echo "| build | rc $build_rc, ${build_s} s; NCCL: $nccl |"
  echo "| test suite | rc $test_rc, ${test_s} s: $(grep -E 'tests passed' "$out/ctest.log") |"
  echo "| CUDA tests | $(echo "$cuda_tests" | grep -E 'PASSED|FAILED' | tr '\n' ' ') |"
  echo "| paper-cifar10, $steps steps | rc $train_rc, ${train_s} s wall (start, data loading and evaluation included) |"
  echo "| metrics.csv rows (images/s: training images through the network per second) | $rows |"
  echo "| GPU memory, peak of nvidia-smi every 200 ms | ${peak_mib} MiB |"
} >"$report"
echo
cat "$report"
