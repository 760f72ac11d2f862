"""Fashion-MNIST from Debian's dataset-fashion-mnist, as numpy arrays (train then test)."""
import gzip

import numpy as np

DIR = "/usr/share/datasets/fashion-mnist"


def _read(name, offset):
    with gzip.open(f"{DIR}/{name}") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load():
    """(X [70000, 784] uint8, y [70000] int64)"""
    x = np.concatenate([_read("train-images-idx3-ubyte.gz", 16),
                        _read("t10k-images-idx3-ubyte.gz", 16)]).reshape(-1, 784)
    y = np.concatenate([_read("train-labels-idx1-ubyte.gz", 8),
                        _read("t10k-labels-idx1-ubyte.gz", 8)]).astype(np.int64)
    return x, y


def load_fmnist_split(prefix):
    """One split ("train" or "t10k") as (images [N, 28, 28] uint8, labels [N] int64)."""
    x = _read(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    y = _read(f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return x, y
