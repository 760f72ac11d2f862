"""Screens on the features of finished Fashion-MNIST runs, for leads on the clustering's
accuracy (labels only score). Each prints what it measured.

  /usr/bin/python3 bench/py/feature_screens.py spectral EMBEDDINGS.pt
  /usr/bin/python3 bench/py/feature_screens.py concat EMBEDDINGS.pt EMBEDDINGS.pt [...]
  /usr/bin/python3 bench/py/feature_screens.py triple EMBEDDINGS.pt
  /usr/bin/python3 bench/py/feature_screens.py posthoc EMBEDDINGS.pt
  /usr/bin/python3 bench/py/feature_screens.py write-flipped DIR
  /usr/bin/python3 bench/py/feature_screens.py flip EMBEDDINGS.pt FLIPPED.pt
  /usr/bin/python3 bench/py/feature_screens.py agree EMBEDDINGS.pt
  /usr/bin/python3 bench/py/feature_screens.py mixtures EMBEDDINGS.pt
  /usr/bin/python3 bench/py/feature_screens.py head-shapes EMBEDDINGS.pt
  /usr/bin/python3 bench/py/feature_screens.py overcluster EMBEDDINGS.pt

EMBEDDINGS.pt: what `dcacn embed --out X.pt` writes for all 70,000 images.
  spectral  spectral clustering of the features' k-NN graph (k 10, 20, 30; cosine, raw and
            whitened): the graph's 10 leading eigenvectors of D^-1/2 A D^-1/2, rows at unit
            length, k-means (10 restarts); ACC / NMI / ARI beside the run's own head.
  concat    the neighbour stage (bench/py/neighbour_heads_replica.py: 8 heads, 10 passes,
            whitened feature neighbours) on the first network's features, then on the features
            of all the networks side by side (each whitened and at unit length for the graph;
            raw, side by side, for the heads).
  triple    the run's head's recall of each class, then for pullover, coat and shirt (and with
            T-shirt): a linear probe (trained on half,
            tested on the other) and k-means on those images alone, in the features and in the
            whitened pixels.
  posthoc   steps after a finished run that use only its outputs: the head's probabilities
            averaged over each image's k nearest neighbours (whitened features, whitened
            pixels; k 5, 10, 20; once, and propagated); k-means in the whitened features started
            from the head's clusters; a linear classifier on the features trained on the head's
            most confident images of each cluster (share 0.2, 0.5).
  write-flipped  Fashion-MNIST's four files, every image mirrored left to right, into DIR (for
            `dcacn embed --dataset fashion-mnist --data DIR --split all --out FLIPPED.pt`).
  flip      test-time mirroring: the head's probabilities averaged over each image and its
            mirror image; the neighbour stage (replica: 8 heads, 10 passes, 20 whitened feature
            neighbours) on the features as they are and on the features averaged over the two.
  agree     the neighbour stage (replica: 8 heads, 10 passes) on four graphs of 20 neighbours:
            whitened features, whitened pixels, their union (10 of each), and the neighbours the
            two spaces agree on (in both top-50 lists, by the sum of their two ranks; rows with
            fewer than 20 repeat theirs, rows with none take their 5 nearest in the features).
  mixtures  other clustering steps on the features' first 16, 32 and 64 whitened principal
            components: k-means (rows at unit length, 3 restarts), Gaussian mixtures with full
            and diagonal covariances (started from k-means), and with full covariances started
            from the run's head's clusters; ACC / NMI beside the head's.
  head-shapes  the neighbour stage (replica: 8 heads, 10 passes, 20 whitened feature
            neighbours) with the stage's heads (Linear-ReLU-Linear) and with linear heads
            (SCAN's), at entropy weights 2, 5 and 10, on the raw features.
  overcluster  the neighbour stage (replica: 8 heads, 10 passes, 20 whitened feature
            neighbours) with 10, 20 and 30 clusters: the consensus head's majority-vote ACC
            (each cluster takes its most frequent class: how pure the groups it finds are) and,
            for pullover, coat and shirt, the share of each in clusters where it is the majority;
            then the same on the pixels (heads on the 128 whitened principal components, their
            20 neighbours there).
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.linalg import eigsh
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

import neighbour_heads_replica as replica


def spectral(path):
    e = torch.load(path)
    y = e["labels"].numpy()
    own = e["probabilities"].argmax(1).numpy()
    print(f"{path}: own head ACC {replica.acc(y, own):.4f} "
          f"NMI {normalized_mutual_info_score(y, own):.4f}", flush=True)
    f = e["features"].float()
    for whiten in (False, True):
        rows = replica.components(f, f.shape[1], True) if whiten else f
        graph = replica.knn(rows, 30).numpy()
        n = len(y)
        for k in (10, 20, 30):
            a = sparse.csr_matrix((np.ones(n * k), (np.repeat(np.arange(n), k),
                                                    graph[:, :k].ravel())), shape=(n, n))
            a = ((a + a.T) > 0).astype(np.float64)
            d = sparse.diags(1 / np.sqrt(np.asarray(a.sum(1)).ravel()))
            _, vectors = eigsh(d @ a @ d, k=10, which="LA", tol=1e-4)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            c = KMeans(10, n_init=10, random_state=0).fit_predict(vectors)
            print(f"  spectral, {'whitened' if whiten else 'raw'} features, k {k}: "
                  f"ACC {replica.acc(y, c):.4f} NMI {normalized_mutual_info_score(y, c):.4f} "
                  f"ARI {adjusted_rand_score(y, c):.4f}", flush=True)


def concat(paths):
    runs = [torch.load(p) for p in paths]
    y = runs[0]["labels"]
    assert all(torch.equal(r["labels"], y) for r in runs), "the runs' images differ"
    white = [replica.unit(replica.components(r["features"].float(), r["features"].shape[1], True))
             for r in runs]
    for path, r in zip(paths, runs):
        print(f"{path}: own head ACC {replica.acc(y.numpy(), r['probabilities'].argmax(1).numpy()):.4f}")

    def stage(name, rows, inputs):
        start = time.time()
        graph = replica.knn(rows)
        purity = (y[graph] == y[:, None]).float().mean().item()
        scores, _ = replica.heads(inputs, graph, y.numpy(), 8, 10)
        print(f"  {name}: 20-NN purity {purity:.4f}, heads {scores} "
              f"({time.time() - start:.0f} s)", flush=True)

    stage("the first network", white[0], runs[0]["features"].float())
    stage("all side by side", torch.cat(white, 1),
          torch.cat([r["features"].float() for r in runs], 1))


def triple(path):
    e = torch.load(path)
    y = e["labels"].numpy()
    own = e["probabilities"].argmax(1).numpy()
    table = np.zeros((10, 10), np.int64)
    np.add.at(table, (own, y), 1)
    rows, cols = linear_sum_assignment(-table)
    recall = table[rows, cols] / np.bincount(y, minlength=10)[cols]
    print("  the run's head, recall per class (matched one to one): "
          + " ".join(f"{c}:{r:.3f}" for c, r in sorted(zip(cols, recall))), flush=True)
    f = replica.unit(e["features"].float()).numpy()
    pixels = replica.components(replica.pixels(), 128, True).numpy()
    for classes in ([2, 4, 6], [0, 2, 4, 6]):
        keep = np.isin(y, classes)
        truth = np.searchsorted(classes, y[keep])
        for name, x in (("features", f[keep]), ("whitened pixels", pixels[keep])):
            order = np.random.default_rng(0).permutation(len(truth))
            a, b = order[:len(order) // 2], order[len(order) // 2:]
            probe = LogisticRegression(max_iter=500).fit(x[a], truth[a]).score(x[b], truth[b])
            c = KMeans(len(classes), n_init=5, random_state=0).fit_predict(x)
            print(f"  classes {classes}, {name}: linear probe {probe:.3f}, "
                  f"k-means ACC {replica.acc(truth, c):.3f}", flush=True)


def posthoc(path):
    e = torch.load(path)
    y = e["labels"].numpy()
    p = e["probabilities"].float()
    own = p.argmax(1).numpy()

    def score(name, c):
        print(f"  {name}: ACC {replica.acc(y, c):.4f} NMI {normalized_mutual_info_score(y, c):.4f} "
              f"ARI {adjusted_rand_score(y, c):.4f}", flush=True)

    score("the run's head", own)
    white = replica.unit(replica.components(e["features"].float(), e["features"].shape[1], True))
    pixels = replica.unit(replica.components(replica.pixels(), 128, True))
    for space, rows in (("features", white), ("pixels", pixels)):
        graph = replica.knn(rows, 20)
        for k in (5, 10, 20):
            g = graph[:, :k]
            once = (p + p[g].mean(1)) / 2
            score(f"{space}, k {k}, averaged once", once.argmax(1).numpy())
            q = p.clone()
            for _ in range(10):
                q = 0.5 * p + 0.5 * q[g].mean(1)
            score(f"{space}, k {k}, propagated (alpha 0.5, 10 rounds)", q.argmax(1).numpy())
    f = white.numpy()
    centres = np.stack([f[own == c].mean(0) for c in range(p.shape[1])])
    c = KMeans(p.shape[1], init=centres, n_init=1, max_iter=50).fit_predict(f)
    score("k-means on whitened features from the head's clusters", c)
    confidence = p.max(1).values.numpy()
    for share in (0.2, 0.5):
        keep = np.zeros(len(y), bool)
        for k in range(p.shape[1]):
            members = np.flatnonzero(own == k)
            if len(members) == 0:
                continue
            top = members[np.argsort(-confidence[members])[:max(1, int(share * len(members)))]]
            keep[top] = True
        probe = LogisticRegression(max_iter=300).fit(f[keep], own[keep])
        score(f"linear classifier on the {share:.0%} most confident of each cluster "
              f"(their labels {replica.acc(y[keep], own[keep]):.4f} right)", probe.predict(f))


def write_flipped(folder):
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(replica.DATA):
        raw = gzip.open(os.path.join(replica.DATA, name)).read()
        if "images" in name:
            images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
            raw = raw[:16] + np.ascontiguousarray(images[:, :, ::-1]).tobytes()
        with gzip.open(os.path.join(folder, name), "wb") as out:
            out.write(raw)
    print(f"wrote {folder}: Fashion-MNIST mirrored left to right")


def flip(path, flipped_path):
    a, b = torch.load(path), torch.load(flipped_path)
    y = a["labels"].numpy()
    assert np.array_equal(y, b["labels"].numpy()), "the two files' images differ"
    pa, pb = a["probabilities"].float(), b["probabilities"].float()
    print(f"  the run's head ACC {replica.acc(y, pa.argmax(1).numpy()):.4f}, on the mirror images "
          f"{replica.acc(y, pb.argmax(1).numpy()):.4f}, probabilities averaged "
          f"{replica.acc(y, (pa + pb).argmax(1).numpy()):.4f}", flush=True)
    fa, fb = a["features"].float(), b["features"].float()
    labels = torch.from_numpy(y)
    for name, f in (("features as they are", fa), ("features averaged with the mirror's",
                                                    (fa + fb) / 2)):
        graph = replica.knn(replica.components(f, f.shape[1], True))
        purity = (labels[graph] == labels[:, None]).float().mean().item()
        scores, _ = replica.heads(f, graph, y, 8, 10)
        print(f"  {name}: 20-NN purity {purity:.4f}, neighbour-stage heads {scores}", flush=True)


def agree(path):
    e = torch.load(path)
    y = e["labels"]
    f = e["features"].float()
    feats = replica.knn(replica.components(f, f.shape[1], True), 50)
    pix = replica.knn(replica.components(replica.pixels(), 128, True), 50)
    width = 20
    # Each pair (i-th feature neighbour, j-th pixel neighbour) naming the same image, ranked by
    # i + j; pairs that do not match rank last. Rows with s < 20 shared repeat their s.
    rank = torch.arange(50)
    both, shared = [], []
    for start in range(0, len(y), 4096):
        a, b = feats[start:start + 4096], pix[start:start + 4096]
        hit = a[:, :, None] == b[:, None, :]
        score = torch.where(hit, rank[:, None] + rank[None, :], torch.tensor(10 ** 6))
        best = score.amin(2).sort(dim=1, stable=True).indices  # by each match's rank sum
        count = hit.any(2).sum(1)
        chosen = a.gather(1, best)
        repeat = torch.arange(width)[None, :] % count.clamp_min(1)[:, None]
        rows = chosen.gather(1, repeat)
        rows[count == 0] = a[count == 0, :5].repeat(1, 4)
        both.append(rows)
        shared.append(count)
    both, shared = torch.cat(both), torch.cat(shared)
    graphs = {"features": feats[:, :width], "pixels": pix[:, :width],
              "union": torch.cat([feats[:, :10], pix[:, :10]], 1), "agreed": both}
    print(f"  shared neighbours in the two top-50 lists: median {shared.median().item()}, "
          f"none for {(shared == 0).float().mean().item():.3f} of the images, fewer than 20 for "
          f"{(shared < 20).float().mean().item():.3f}", flush=True)
    for name, graph in graphs.items():
        purity = (y[graph] == y[:, None]).float().mean().item()
        scores, _ = replica.heads(f, graph, y.numpy(), 8, 10)
        print(f"  {name}: 20-NN purity {purity:.4f}, neighbour-stage heads {scores}", flush=True)


def mixtures(path):
    from sklearn.mixture import GaussianMixture
    e = torch.load(path)
    y = e["labels"].numpy()
    f = e["features"].float()
    own = e["probabilities"].argmax(1).numpy()
    k = e["probabilities"].shape[1]

    def score(name, c):
        print(f"  {name}: ACC {replica.acc(y, c):.4f} NMI {normalized_mutual_info_score(y, c):.4f}",
              flush=True)

    score("the run's head", own)
    for d in (16, 32, 64):
        z = replica.components(f, d, True).numpy()
        score(f"{d} components, k-means", KMeans(k, n_init=3, random_state=0).fit_predict(
            replica.unit(torch.from_numpy(z)).numpy()))
        for cov in ("full", "diag"):
            g = GaussianMixture(k, covariance_type=cov, random_state=0, max_iter=200).fit(z)
            score(f"{d} components, Gaussian mixture ({cov})", g.predict(z))
        means = np.stack([z[own == c].mean(0) for c in range(k)])
        g = GaussianMixture(k, covariance_type="full", means_init=means, random_state=0,
                            max_iter=200).fit(z)
        score(f"{d} components, Gaussian mixture (full) from the head's clusters", g.predict(z))


def head_shapes(path):
    e = torch.load(path)
    y = e["labels"]
    f = e["features"].float()
    graph = replica.knn(replica.components(f, f.shape[1], True))
    for linear in (False, True):
        for w in (2.0, 5.0, 10.0):
            scores, _ = replica.heads(f, graph, y.numpy(), 8, 10, w=w, linear=linear)
            shape = "linear" if linear else "Linear-ReLU-Linear"
            print(f"  {shape} heads, entropy weight {w:g}: {scores}", flush=True)


def overcluster(path):
    e = torch.load(path)
    y = e["labels"].numpy()
    f = e["features"].float()
    pixels = replica.components(replica.pixels(), 128, True)
    for space, rows, white in (("features", f, replica.components(f, f.shape[1], True)),
                               ("pixels", pixels, pixels)):
        overcluster_space(space, rows, replica.knn(white), y)


def overcluster_space(space, rows, graph, y):
    for k in (10, 20, 30):
        _, c = replica.heads(rows, graph, y, 8, 10, clusters=k)
        c = c.numpy()
        table = np.zeros((k, 10), np.int64)
        np.add.at(table, (c, y), 1)
        majority = table.argmax(1)
        vote = table.max(1).sum() / len(y)
        held = {name: table[majority == cls, cls].sum() / (y == cls).sum()
                for name, cls in (("pullover", 2), ("coat", 4), ("shirt", 6))}
        print(f"  {space}, {k} clusters (consensus head): Hungarian ACC {replica.acc(y, c):.4f}, "
              f"majority-vote ACC {vote:.4f}, non-empty {int((table.sum(1) > 0).sum())}; in "
              "clusters of their own majority: "
              + ", ".join(f"{n} {v:.3f}" for n, v in held.items()), flush=True)


SCREENS = {"spectral": spectral, "concat": lambda *paths: concat(list(paths)),
           "triple": triple, "posthoc": posthoc, "write-flipped": write_flipped, "flip": flip,
           "agree": agree, "mixtures": mixtures, "head-shapes": head_shapes,
           "overcluster": overcluster}


def main():
    torch.manual_seed(0)
    mode, paths = sys.argv[1], sys.argv[2:]
    if mode not in SCREENS:
        sys.exit(f"unknown screen {mode}: {', '.join(SCREENS)}")
    SCREENS[mode](*paths)


if __name__ == "__main__":
    main()
