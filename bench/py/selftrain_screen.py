"""A screen of label-free ways to go beyond the neighbour stage's kept head, on the frozen
features of a finished run (labels used only to score):
- vote: each image takes the cluster its neighbours' (and its own) probabilities sum to most;
- reliable + classifier: the images whose kept-head confidence is >= t and whose neighbours
  agree (>= a share in the image's cluster) label a softmax classifier (class-balanced
  cross-entropy) on the whitened features, the whitened pixels or both, which then labels all.

  PYTHONPATH=bench/py /usr/bin/python3 bench/py/selftrain_screen.py EMBEDDINGS.pt

EMBEDDINGS.pt: what `dcacn embed --out X.pt` writes for all 70,000 Fashion-MNIST images in the
standard order (train then test). Prints the kept head's clusters against the classes, then one
line per method.
"""
import argparse

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from neighbour_heads_replica import acc, components, knn, pixels, unit


def vote(probs, graph, self_weight=1.0):
    summed = probs[graph].sum(1) + self_weight * probs
    return summed.argmax(1)


def reliable(probs, graph, threshold, agreement):
    conf, label = probs.max(1)
    share = (label[graph] == label[:, None]).float().mean(1)
    return (conf >= threshold) & (share >= agreement), label


def classifier(x, labels, mask, clusters, epochs=30, seed=0, lr=1e-2, decay=1e-4, hidden=False):
    """A softmax layer (hidden: the cluster head's Linear-ReLU-Linear) on rows x trained on the
    masked rows' labels, class-balanced."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    xs, ys = x[mask], labels[mask]
    counts = torch.bincount(ys, minlength=clusters).float().clamp_min(1)
    weight = counts.sum() / (clusters * counts)
    d = x.shape[1]
    layer = torch.nn.Sequential(torch.nn.Linear(d, d), torch.nn.ReLU(), torch.nn.Linear(d, clusters)) \
        if hidden else torch.nn.Linear(d, clusters)
    adam = torch.optim.Adam(layer.parameters(), lr=lr, weight_decay=decay)
    for _ in range(epochs):
        order = torch.randperm(len(xs), generator=g)
        for s in range(0, len(xs), 256):
            i = order[s:s + 256]
            loss = torch.nn.functional.cross_entropy(layer(xs[i]), ys[i], weight=weight)
            adam.zero_grad()
            loss.backward()
            adam.step()
    with torch.no_grad():
        return torch.softmax(layer(x), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("embeddings")
    ap.add_argument("--clusters", type=int, default=10)
    args = ap.parse_args()
    torch.manual_seed(0)
    e = torch.load(args.embeddings)
    f, p, y = e["features"].float(), e["probabilities"].float(), e["labels"]
    yn = y.numpy()
    fw = components(f, f.shape[1], True)
    pw = components(pixels(), 128, True)
    inputs = {"featW": unit(fw), "pixW": unit(pw),
              "both": torch.cat([unit(fw), unit(pw)], 1), "featW+mlp": fw / fw.shape[1] ** 0.5}
    graphs = {"featW": knn(fw), "pixW": knn(pw)}
    graphs["union"] = torch.cat([graphs["featW"], graphs["pixW"]], 1)
    base = p.argmax(1)
    print("kept head", round(acc(yn, base.numpy()), 4), flush=True)
    table = torch.zeros(args.clusters, int(y.max()) + 1, dtype=torch.int64)
    table.index_put_((base, y), torch.ones_like(y), accumulate=True)
    print("clusters (rows) by class (columns):")
    print("\n".join(" ".join(f"{v:5d}" for v in row) for row in table.tolist()), flush=True)
    for name, graph in graphs.items():
        purity = (y[graph] == y[:, None]).float().mean().item()
        print("vote", name, "purity", round(purity, 4),
              round(acc(yn, vote(p, graph).numpy()), 4), flush=True)
    for threshold, agreement in [(0.9, 0.8), (0.95, 0.9), (0.99, 0.9), (0.0, 0.0)]:
        for gname in ["featW", "union"]:
            mask, label = reliable(p, graphs[gname], threshold, agreement)
            pseudo = (label[mask] == torch.from_numpy(
                _mapped(yn, base.numpy()))[mask]).float().mean().item()
            for iname, x in inputs.items():
                hidden = iname.endswith("+mlp")
                q = classifier(x, label, mask, args.clusters, hidden=hidden,
                               lr=1e-3 if hidden else 1e-2)
                print("classifier", f"t={threshold} a={agreement} graph={gname}", iname,
                      "coverage", round(mask.float().mean().item(), 3),
                      "pseudo ACC", round(pseudo, 4), "->", round(acc(yn, q.argmax(1).numpy()), 4),
                      "vote after", round(acc(yn, vote(q, graphs["featW"]).numpy()), 4), flush=True)


def _mapped(y, c):
    """The cluster each image's class maps to under the Hungarian matching (scoring only)."""
    k = max(y.max(), c.max()) + 1
    w = np.zeros((k, k), np.int64)
    np.add.at(w, (c, y), 1)
    r, col = linear_sum_assignment(-w)
    to_cluster = np.zeros(k, np.int64)
    to_cluster[col] = r
    return to_cluster[y]


if __name__ == "__main__":
    main()
