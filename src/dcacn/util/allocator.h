#pragma once
// glibc's malloc, set for a process that allocates and frees the same large tensors at every
// step. By default glibc serves a block of 128 KiB or more with its own mmap (its threshold
// then rises, up to 32 MiB, as such blocks are freed) and gives the top of its heap back to
// the system once 2 x that threshold is free there. A training step's activations and
// gradients (several MiB each) are freed at the step's end and asked for again at the next, so
// their pages are returned and faulted in afresh, zeroed by the kernel, at every step. On
// Fashion-MNIST's preset (2 cores, AMD EPYC, 60 steps) that was 3.4 million minor page faults
// and 6.9 s of system time, against 0.25 million and 1.0 s with the settings below
// (bench/results/allocator.md); and the first t-SNE of a fresh process, which `cluster` times
// to reserve its report's time, ran 4x slower than the next.

#include <string>

namespace dcacn {

struct AllocatorTuning {
  bool applied = false;
  std::string what;  ///< the settings, or why none were made
};

/// Where the C library is glibc: blocks below 32 MiB (the largest threshold glibc accepts)
/// come from the heap, and the heap keeps up to 1 GiB free at its top instead of trimming it
/// (the settings go together: fixing either turns off glibc's adjustment of the other). Peak
/// memory is unchanged; memory freed after the peak stays with the process, up to 1 GiB.
/// Nothing is set where DCACN_MALLOC_TUNING=0, where the user set glibc's own malloc variables
/// (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, or glibc.malloc tunables in
/// GLIBC_TUNABLES), or on another C library. Call once, first thing in main.
AllocatorTuning tune_allocator();

}  // namespace dcacn
