"""Writes Fashion-MNIST images as a folder of PNG files, as a user's folder would hold them.

    fmnist_folders.py OUT [--split test|all] [--classes 5,7,9] [--layout flat|labelled]

flat: OUT/000123.png (no labels); labelled: OUT/<class name>/000123.png. The labels only choose
the classes of a subset and name the class folders; `dcacn cluster` never sees them in a flat
folder.
"""
import argparse
import os

import numpy as np
from PIL import Image

import fmnist

NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
         "ankle-boot"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--split", choices=["test", "all"], default="test")
    ap.add_argument("--classes", default="")
    ap.add_argument("--layout", choices=["flat", "labelled"], default="flat")
    a = ap.parse_args()
    if a.split == "test":
        x, y = fmnist.load_fmnist_split("t10k")
    else:
        x, y = fmnist.load()
        x = x.reshape(-1, 28, 28)
    if a.classes:
        keep = np.isin(y, [int(c) for c in a.classes.split(",")])
        index = np.nonzero(keep)[0]
    else:
        index = np.arange(len(y))
    os.makedirs(a.out, exist_ok=True)
    for i in index:
        folder = a.out if a.layout == "flat" else os.path.join(a.out, NAMES[y[i]])
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(x[i], mode="L").save(os.path.join(folder, f"{i:06d}.png"))
    print(f"wrote {len(index)} images to {a.out} ({a.layout})")


if __name__ == "__main__":
    main()
