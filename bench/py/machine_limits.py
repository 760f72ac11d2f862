#!/usr/bin/python3
"""Measures what bounds a k-means pass here: memory bandwidth and the thin fp32 matrix product
[70000, 784] x [784, 10] (one Lloyd distance pass over Fashion-MNIST), with LibTorch 1.13
(the library dcacn links) on all cores. Prints one JSON object."""
import json
import os
import time

import torch

torch.set_num_threads(os.cpu_count())
x = torch.rand(70000, 784)
c = torch.rand(10, 784)
wide = torch.rand(784, 784)


def best_of(fn, repeats=7):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


dst = torch.empty_like(x)
copy_s = best_of(lambda: dst.copy_(x))
thin_s = best_of(lambda: torch.mm(x, c.t()))
big_s = best_of(lambda: torch.mm(x[:8192], wide), 5)
print(json.dumps({
    "threads": torch.get_num_threads(),
    "copy_gbytes_per_s": 2 * x.numel() * 4 / copy_s / 1e9,  # read + write
    "thin_gemm_ms": thin_s * 1e3,
    "thin_gemm_gflops": 2 * 70000 * 784 * 10 / thin_s / 1e9,
    "square_gemm_gflops": 2 * 8192 * 784 * 784 / big_s / 1e9,
}))
