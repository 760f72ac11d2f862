"""Screens criteria for the number of clusters on the features of finished runs (labels only
score the choice). The images' pixels are read from the paths the embeddings name.

  /usr/bin/python3 bench/py/k_criteria_screen.py NAME=EMBEDDINGS.pt[:CLASSES] ... \
      [--criteria stab,heads] [--space feat|pixW|both] [--pairs 5] [--restarts 2]
      [--min-k 2] [--max-k 30] [--heads-max-k 16] [--seed 0] [--heads-reference]
      [--heads-n 4] [--heads-passes 5] [--draws 1] [--subsample N]

NAME=EMBEDDINGS.pt: what `dcacn embed --out X.pt` writes for a run's images (of a folder, or of
all 70,000 Fashion-MNIST images); :CLASSES (e.g. :5,7,9) keeps only the images of those label
indices (a subset folder from a network trained on more classes), :test the last 10,000 rows of
an all-images embedding (the test images). Criteria:
  stab   dcacn's (cluster/k_estimation.h): the mean ARI of pairs of k-means fits on random
         subsamples (3,000 rows) assigning a common sample (10,000), less the same on a Gaussian
         with the rows' mean and covariance; prints the K of the largest difference, and the K of
         the largest normalised difference (stab - ref) / (1 - ref).
  heads  the mean ARI between neighbour-stage heads (bench/py/neighbour_heads_replica.py's,
         4 heads, 5 passes) trained at each K on the features with neighbours mined in the
         whitened pixels; beside it, the same heads' mean fit to that graph (the share of
         neighbours in their image's cluster less what clusters of those sizes give at random:
         the graph's modularity under the clustering), and the product of the two. With
         --heads-reference, the same agreement on a structureless reference (a Gaussian with
         the features' mean and covariance, its neighbours mined in itself) and the K of the
         largest agreement - reference (and the smallest K within one standard error of it,
         the errors of both agreements combined). --heads-n and --heads-passes set the heads
         and their passes; --draws averages over that many sets of heads from other seeds.
  fit    the fit (as above) of k-means (K clusters, on the unit-length features) to the whitened
         pixels' 20-NN graph: needs no training at each K.
  merge  an over-clustering merged along the neighbour graph: k-means with --merge-from clusters
         (30) on the whitened unit-length features, their 20-NN graph, then the two groups with
         the largest linkage merged until one is left (linkage: the edges between them over the
         smaller group's edges). Prints the linkage of each merge K -> K-1 and the K whose
         merge into K was easiest against the next one (the largest linkage(K+1 -> K) /
         linkage(K -> K-1), K from --min-k to --max-k).
--subsample N keeps N random rows of each folder (the seed's draw) before anything else.
"""
import argparse

import numpy as np
import torch
from PIL import Image
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

import neighbour_heads_replica as replica


def load(spec):
    name, rest = spec.split("=", 1)
    path, _, classes = rest.partition(":")
    e = torch.load(path)
    f, y = e["features"].float(), e["labels"]
    if "paths" in e:
        paths = e["paths"]
        pixels = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("L"), np.float32)
                                            .reshape(-1) / 255 for p in paths]))
    else:  # all 70,000 Fashion-MNIST images in the dataset's order (train, then test)
        pixels = replica.pixels()
    if classes == "test":  # the 10,000 test images of an all-images embedding
        keep = torch.arange(len(y)) >= 60000
    elif classes:
        keep = torch.isin(y, torch.tensor([int(c) for c in classes.split(",")]))
    else:
        keep = torch.ones(len(y), dtype=torch.bool)
    return name, f[keep], y[keep], pixels[keep]


def rows_for(space, f, pixels):
    if space == "feat":
        return replica.unit(f)
    pw = replica.unit(replica.components(pixels, 128, True))
    if space == "pixW":
        return pw
    return torch.cat([replica.unit(f), pw], 1) / np.sqrt(2)


def gaussian_like(x, rng):
    """As many rows as `x` from a Gaussian with its rows' mean and covariance: a reference
    without structure."""
    x = np.asarray(x, np.float64)
    return rng.multivariate_normal(x.mean(0), np.cov(x, rowvar=False), size=len(x),
                                   method="cholesky")


def stability(x, ks, pairs, restarts, seed, subsample=3000, evaluation=10000):
    rng = np.random.default_rng(seed)
    x = replica.unit(x).numpy().astype(np.float64)
    n = len(x)
    ref = gaussian_like(x, rng)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    ev = rng.permutation(n)[:min(n, evaluation)]
    out = {}
    for k in ks:
        means = []
        for rows in (x, ref):
            agreement = []
            for p in range(pairs):
                fits = []
                for _ in range(2):
                    s = rng.permutation(n)[:min(n, subsample)]
                    km = KMeans(k, n_init=restarts, random_state=int(rng.integers(1 << 30)))
                    fits.append(km.fit(rows[s]).predict(rows[ev]))
                agreement.append(adjusted_rand_score(*fits))
            means.append(float(np.mean(agreement)))
        out[k] = means
    return out


def heads_agreement(features, graph, ks, n_heads=4, passes=5, seed=0, draws=1):
    """{K: (mean ARI between the heads, mean fit of the heads to the graph, standard error of
    the mean ARI)}, over `draws` sets of heads trained from different seeds. The standard error
    is that of the heads' own mean ARIs with the other heads of their set (heads * draws of
    them), as if they were independent."""
    out = {}
    for k in ks:
        fits, per_head = [], []
        for d in range(draws):
            s = seed + 1000 * d + k
            torch.manual_seed(s)  # the heads' initial weights
            probs, _, _ = replica.train_heads(features, graph, k, n_heads, passes, s)
            labels = [p.argmax(1) for p in probs]
            ari = np.eye(n_heads)
            for a in range(n_heads):
                for b in range(a + 1, n_heads):
                    ari[a, b] = ari[b, a] = adjusted_rand_score(labels[a].numpy(),
                                                                labels[b].numpy())
            per_head += list((ari.sum(1) - 1) / max(n_heads - 1, 1))
            fits += [replica.fit(c, graph) for c in labels]
        se = float(np.std(per_head, ddof=1) / np.sqrt(len(per_head))) if len(per_head) > 1 else 0.0
        # The mean of the heads' mean ARIs is the mean over the pairs (each pair counts twice).
        out[k] = (float(np.mean(per_head)), float(np.mean(fits)), se)
    return out


def one_se_choice(criterion, se):
    """The smallest K whose criterion is within one standard error (of the best K's) of the
    best: Tibshirani's rule for the gap statistic, for a criterion that plateaus past the true
    K."""
    best = max(criterion, key=criterion.get)
    return min(k for k in criterion if criterion[k] >= criterion[best] - se[best])


def kmeans_fit(features, graph, ks, restarts, seed):
    """{K: fit of k-means on the unit-length features to the graph}."""
    x = replica.unit(features).numpy()
    out = {}
    for k in ks:
        c = KMeans(k, n_init=restarts, random_state=seed).fit_predict(x)
        out[k] = replica.fit(torch.from_numpy(c).long(), graph)
    return out


def merge_linkages(features, over, restarts, seed, k=20):
    """{K: linkage of the merge of K groups into K - 1}, from an over-clustering of `over`
    k-means clusters of the whitened features merged greedily along their k-NN graph."""
    z = replica.unit(replica.components(features, features.shape[1], True))
    graph = replica.knn(z, k).numpy()
    labels = KMeans(over, n_init=restarts, random_state=seed).fit_predict(z.numpy())
    edges = np.zeros((over, over))
    np.add.at(edges, (np.repeat(labels, k), labels[graph.ravel()]), 1)
    edges = edges + edges.T
    degree = edges.sum(1)
    active, out = list(range(over)), {}
    while len(active) > 1:
        link, a, b = max((edges[a, b] / min(degree[a], degree[b]), a, b)
                         for i, a in enumerate(active) for b in active[i + 1:])
        out[len(active)] = float(link)
        edges[a, :] += edges[b, :]
        edges[:, a] += edges[:, b]
        edges[b, :] = 0
        edges[:, b] = 0
        degree[a] += degree[b]
        degree[b] = 0
        active.remove(b)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--criteria", default="stab")
    ap.add_argument("--space", default="feat")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--min-k", type=int, default=2)
    ap.add_argument("--max-k", type=int, default=30)
    ap.add_argument("--heads-max-k", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--heads-reference", action="store_true")
    ap.add_argument("--heads-n", type=int, default=4)
    ap.add_argument("--heads-passes", type=int, default=5)
    ap.add_argument("--draws", type=int, default=1)
    ap.add_argument("--subsample", type=int, default=0)
    ap.add_argument("--merge-from", type=int, default=30)
    a = ap.parse_args()
    heads_args = dict(n_heads=a.heads_n, passes=a.heads_passes, seed=a.seed, draws=a.draws)
    for spec in a.runs:
        name, f, y, pixels = load(spec)
        if 0 < a.subsample < len(y):
            keep = torch.from_numpy(np.random.default_rng(a.seed).permutation(len(y))[:a.subsample])
            f, y, pixels = f[keep], y[keep], pixels[keep]
        truth = len(torch.unique(y))
        ks = list(range(a.min_k, a.max_k + 1))
        if "stab" in a.criteria:
            s = stability(rows_for(a.space, f, pixels), ks, a.pairs, a.restarts, a.seed)
            diff = {k: v[0] - v[1] for k, v in s.items()}
            norm = {k: (v[0] - v[1]) / max(1 - v[1], 1e-6) for k, v in s.items()}
            best, best_norm = max(diff, key=diff.get), max(norm, key=norm.get)
            print(f"{name} truth {truth} stab[{a.space} p{a.pairs} r{a.restarts} s{a.seed}]: "
                  f"diff -> {best}, normalised -> {best_norm}; "
                  + " ".join(f"{k}:{v[0]:.2f}/{v[1]:.2f}" for k, v in s.items()), flush=True)
        graph = None
        if "heads" in a.criteria or "fit" in a.criteria:
            graph = replica.knn(replica.components(pixels, 128, True))
        if "heads" in a.criteria:
            hk = list(range(a.min_k, a.heads_max_k + 1))
            h = heads_agreement(f, graph, hk, **heads_args)
            agree = max(h, key=lambda k: h[k][0])
            fit = max(h, key=lambda k: h[k][1])
            both = max(h, key=lambda k: h[k][0] * h[k][1])
            print(f"{name} truth {truth} heads: agreement -> {agree}, fit -> {fit}, "
                  f"product -> {both}; "
                  + " ".join(f"{k}:{v[0]:.3f}/{v[1]:.3f}" for k, v in h.items()), flush=True)
            if a.heads_reference:
                g = torch.from_numpy(gaussian_like(f.numpy(), np.random.default_rng(a.seed)))
                g = g.float()
                r = heads_agreement(g, replica.knn(g), hk, **heads_args)
                diff = {k: h[k][0] - r[k][0] for k in hk}
                norm = {k: diff[k] / max(1 - r[k][0], 1e-6) for k in hk}
                se = {k: float(np.hypot(h[k][2], r[k][2])) for k in hk}
                print(f"{name} truth {truth} heads - reference: diff -> "
                      f"{max(diff, key=diff.get)}, normalised -> {max(norm, key=norm.get)}, "
                      f"diff by the one-SE rule -> {one_se_choice(diff, se)}; "
                      + " ".join(f"{k}:{h[k][0]:.3f}/{r[k][0]:.3f}+-{se[k]:.3f}" for k in hk),
                      flush=True)
        if "merge" in a.criteria:
            m = merge_linkages(f, a.merge_from, a.restarts, a.seed)
            ratio = {k: m[k + 1] / max(m[k], 1e-9) for k in ks if k + 1 in m and k in m}
            print(f"{name} truth {truth} merge[{a.merge_from}]: -> {max(ratio, key=ratio.get)}; "
                  + " ".join(f"{k}:{m[k]:.3f}" for k in sorted(m) if k <= a.max_k), flush=True)
        if "fit" in a.criteria:
            m = kmeans_fit(f, graph, ks, a.restarts, a.seed)
            best = max(m, key=m.get)
            print(f"{name} truth {truth} k-means fit: -> {best}; "
                  + " ".join(f"{k}:{v:.3f}" for k, v in m.items()), flush=True)


if __name__ == "__main__":
    main()
