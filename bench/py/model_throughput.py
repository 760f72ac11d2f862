#!/usr/bin/python3
"""Forward+backward images/s of the Python twin of DCACN; the same procedure as
bench/cpp/model_throughput.cpp. Prints one JSON object."""
import argparse
import json
import os
import time

import torch

from dcacn_model import DCACN

ap = argparse.ArgumentParser()
ap.add_argument("--width", type=int, default=64)
ap.add_argument("--image-size", type=int, default=32)
ap.add_argument("--channels", type=int, default=3)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--attention", default="cbam")
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--channels-last", action="store_true")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = DCACN(34, a.channels, a.width, "cifar" if a.image_size <= 64 else "imagenet",
              a.attention == "cbam")
model.train()
x = torch.rand(a.batch, a.channels, a.image_size, a.image_size)
if a.channels_last:
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)


def step():
    model.zero_grad()
    _, h, p = model(x)
    (h.sum() + p.pow(2).sum()).backward()


for _ in range(a.warmup):
    step()
start = time.perf_counter()
for _ in range(a.steps):
    step()
seconds = time.perf_counter() - start
print(json.dumps({"implementation": "python", "width": a.width, "attention": a.attention,
                  "image_size": a.image_size, "batch": a.batch, "steps": a.steps,
                  "threads": torch.get_num_threads(), "channels_last": a.channels_last,
                  "seconds_per_step": seconds / a.steps,
                  "images_per_s": a.batch * a.steps / seconds}))
