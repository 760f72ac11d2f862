#pragma once
// bf16 autocast for a scope, on CPU or CUDA, across LibTorch 1.13 and 2.x (whose autocast
// functions take the device type from 2.4 on).

#include <ATen/autocast_mode.h>
#include <c10/core/Device.h>
#include <torch/version.h>

namespace dcacn {

class AutocastGuard {
 public:
  AutocastGuard(bool enabled, const c10::Device& device)
      : enabled_(enabled), cuda_(device.is_cuda()) {
    if (enabled_) set(true);
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    set(false);
    at::autocast::clear_cache();
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  void set(bool on) const {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    const auto type = cuda_ ? at::kCUDA : at::kCPU;
    if (on) at::autocast::set_autocast_dtype(type, at::kBFloat16);
    at::autocast::set_autocast_enabled(type, on);
#else
    if (cuda_) {
      if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(on);
    } else {
      if (on) at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(on);
    }
#endif
  }

  bool enabled_, cuda_;
};

}  // namespace dcacn
