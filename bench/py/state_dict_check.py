#!/usr/bin/python3
"""Loads a dcacn weights file with torch.load, prints its keys and shapes, loads it into the
Python twin with strict=True and compares outputs with those the C++ model saved."""
import argparse

import torch

from dcacn_model import DCACN

ap = argparse.ArgumentParser()
ap.add_argument("weights")
ap.add_argument("example")
ap.add_argument("--channels", type=int, default=3)
ap.add_argument("--image-size", type=int, default=32)
ap.add_argument("--width", type=int, default=64)
ap.add_argument("--attention", default="cbam")
args = ap.parse_args()

state = torch.load(args.weights)
print(f"torch {torch.__version__}: torch.load gave a {type(state).__name__} of {len(state)} "
      f"tensors, {sum(t.numel() for t in state.values()):,} values")
shown = list(state.items())
for name, t in shown[:12] + [("...", None)] + shown[-6:]:
    print(f"  {name}" if t is None else f"  {name:60s} {str(list(t.shape)):20s} {t.dtype}")

model = DCACN(34, args.channels, args.width, "cifar" if args.image_size <= 64 else "imagenet",
              args.attention == "cbam")
result = model.load_state_dict(state, strict=True)
print(f"load_state_dict(strict=True) into the Python twin: {result}")
model.eval()
ex = torch.load(args.example)
with torch.no_grad():
    z, h, p = model(ex["input"])
for name, ours, theirs in [("features", z, ex["features"]), ("embedding", h, ex["embedding"]),
                           ("probabilities", p, ex["probabilities"])]:
    diff = (ours - theirs).abs().max().item()
    print(f"  {name:14s} {str(list(theirs.shape)):10s} max |python - c++| = {diff:.2e}")
    assert diff < 1e-4, f"{name} differs by {diff}"
print("same outputs: OK")
