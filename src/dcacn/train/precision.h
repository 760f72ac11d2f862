#pragma once
// `--precision auto`: bf16 autocast or fp32, whichever trains faster on this machine, measured
// when a run starts. Which is faster depends on the CPU: bf16 matrix products are native with
// AMX or avx512_bf16 and emulated without, and a narrow network's step is also bound by memory
// traffic, which bf16 halves (bench/results: bf16 the faster on an AMD EPYC, fp32 on an Intel
// Xeon with avx512_bf16 and no AMX). A few steps of the run's own network, views and losses are
// timed in each precision on random images (both warmed up, then their steps alternating), on
// copies of the network (the run's own weights, optimiser and random streams are not touched).

#include <torch/types.h>

#include <string>
#include <vector>

#include "dcacn/run/config.h"

namespace dcacn {

struct PrecisionTrialOptions {
  /// Images per timed step (the run's batch when smaller).
  int64_t batch = 64;
  /// Untimed steps first (one-off allocations, oneDNN's kernel choice), then timed ones.
  int64_t warmup = 1, steps = 2;
};

struct PrecisionChoice {
  bool bf16 = false;
  /// Training images per second, in fp32 and with bf16 autocast.
  double fp32_images_per_second = 0, bf16_images_per_second = 0;
  double seconds = 0;  ///< the whole measurement
  /// "fp32 84 img/s, bf16 69 img/s (4x64 images each): fp32".
  std::string summary() const;
};

/// Times training steps of `config`'s network (its channels-last setting kept) on `device` in
/// both precisions and returns the faster.
PrecisionChoice measure_precision(const TrainConfig& config, torch::Device device,
                                  const PrecisionTrialOptions& options = {});

}  // namespace dcacn
