#!/usr/bin/python3
"""torchvision multi-crop pipeline on PIL images, as users of the official CC code run it:
per image and view RandomResizedCrop, RandomHorizontalFlip, RandomApply(ColorJitter, 0.8),
RandomGrayscale(0.2), for local views RandomApply(GaussianBlur, 0.5), ToTensor; collated into
batches. Prints one JSON object (views/s) for in-process use and for a DataLoader with
worker processes."""
import argparse
import json
import os
import time

import numpy as np
import torch
import torchvision
from PIL import Image

from tv_views import view

ap = argparse.ArgumentParser()
ap.add_argument("--image-size", type=int, default=32)
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--batches", type=int, default=8)
ap.add_argument("--workers", type=int, default=os.cpu_count())
a = ap.parse_args()
torch.set_num_threads(1)  # PIL work is per image; worker processes give the parallelism

size = a.image_size

VIEWS = [view(size, (0.2, 1.0))] * 2 + [view(size // 2, (0.05, 0.5), blur=True)] * 4
rng = np.random.default_rng(0)
pixels = rng.integers(0, 256, (a.batch * a.batches, size, size, 3), dtype=np.uint8)


class Images(torch.utils.data.Dataset):
    def __len__(self):
        return len(pixels)

    def __getitem__(self, i):
        img = Image.fromarray(pixels[i])
        return [v(img) for v in VIEWS]


def rate(loader):
    # Timed from the first request: worker processes prefetch, so skipping a warm-up batch
    # would count work done before the clock started. Start-up is ~0.1 s of several seconds.
    start = time.perf_counter()
    n = 0
    for batch in loader:
        n += batch[0].shape[0]
    return n * len(VIEWS) / (time.perf_counter() - start)


in_process = rate(torch.utils.data.DataLoader(Images(), batch_size=a.batch, num_workers=0))
workers = rate(torch.utils.data.DataLoader(Images(), batch_size=a.batch, num_workers=a.workers))
print(json.dumps({"implementation": "torchvision", "torchvision": torchvision.__version__,
                  "views": f"2x{size} (scale 0.20-1.00) + 4x{size // 2} (scale 0.05-0.50)",
                  "batch": a.batch, "views_per_s_in_process": in_process,
                  "views_per_s_workers": workers, "workers": a.workers}))
