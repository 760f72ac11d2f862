"""Probes of what a dcacn model's representation knows about the classes (labels are used only
here, for scoring): k-NN purity and a linear probe on the backbone features, k-means on them,
the cluster head's own ACC, and the same probes on raw pixels for reference.

  /usr/bin/python3 bench/py/probe.py EMBEDDINGS.pt [--pixels] [--subset N] [--seed S]

EMBEDDINGS.pt: what `dcacn embed --out X.pt` writes for a labelled dataset (features,
probabilities, labels). Prints one JSON object.
"""
import argparse
import json

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.neighbors import NearestNeighbors


def hungarian_acc(y, c):
    k = max(y.max(), c.max()) + 1
    w = np.zeros((k, k), np.int64)
    np.add.at(w, (c, y), 1)
    r, col = linear_sum_assignment(-w)
    return w[r, col].sum() / len(y)


def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def probes(x, y, seed, k_neighbours=20):
    """k-NN purity, linear probe accuracy (train on one half, test on the other), k-means ACC."""
    x = unit(x.astype(np.float32))
    nn = NearestNeighbors(n_neighbors=k_neighbours + 1).fit(x)
    idx = nn.kneighbors(x, return_distance=False)[:, 1:]
    knn = float((y[idx] == y[:, None]).mean())
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    a, b = perm[: len(y) // 2], perm[len(y) // 2:]
    clf = LogisticRegression(max_iter=300, C=1.0).fit(x[a], y[a])
    linear = float(clf.score(x[b], y[b]))
    km = KMeans(n_clusters=len(np.unique(y)), n_init=3, random_state=seed).fit(x)
    return {"knn_purity": knn, "linear_probe": linear,
            "kmeans_acc": float(hungarian_acc(y, km.labels_)),
            "kmeans_nmi": float(normalized_mutual_info_score(y, km.labels_))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("embeddings")
    ap.add_argument("--pixels", action="store_true", help="also probe raw Fashion-MNIST pixels")
    ap.add_argument("--subset", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    d = torch.load(args.embeddings)
    y_all = d["labels"].numpy().astype(np.int64)
    rng = np.random.default_rng(args.seed)
    sub = np.sort(rng.choice(len(y_all), size=min(args.subset, len(y_all)), replace=False))
    y = y_all[sub]
    out = {"images": int(len(sub))}
    out["features"] = probes(d["features"].numpy()[sub], y, args.seed)
    head = d["probabilities"].argmax(1).numpy()
    out["head_acc"] = float(hungarian_acc(y_all, head))
    out["head_nmi"] = float(normalized_mutual_info_score(y_all, head))
    if args.pixels:
        import fmnist
        x, _ = fmnist.load()
        out["pixels"] = probes(x[sub].astype(np.float32) / 255.0, y, args.seed)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
