"""A Python replica of dcacn's neighbour stage on frozen features, for screening its choices
(neighbour space, whitening, which head to keep, the auto space's criterion) on the features of
finished runs. Labels are used only to score.

  /usr/bin/python3 bench/py/neighbour_heads_replica.py EMBEDDINGS.pt [EMBEDDINGS.pt ...]
      [--spaces pix,pixW,featW,bothW] [--heads 8] [--passes 10] [--cross]
      [--inputs feat|pixW|feat+pixW]

EMBEDDINGS.pt: what `dcacn embed --out X.pt` writes for all 70,000 Fashion-MNIST images (the
pixels are read from /usr/share/datasets/fashion-mnist). Spaces: pix (pixels on 128 principal
components), pixW (the same whitened), feat / featW (the backbone features, raw / whitened),
both / bothW (the two side by side, each at unit length). For each space it prints the 20-NN
purity, every head's ACC, the head the lowest loss keeps, the consensus head (most mean ARI with
the others), and the heads' aligned average; --cross adds every clustering's fit (share of
neighbours in the image's cluster above chance) to every space's graph, the auto criterion.
--inputs: what the heads see: the backbone features (the stage as it is), the whitened pixels,
or both side by side (each row at unit length).
The stage's heads: Linear(D, D)-ReLU-Linear(D, K), Adam 1e-3, batches of 512 anchors with one
random neighbour each, loss -mean log <p_i, p_j> + 5 sum m log m, a fixed number of passes.
"""
import argparse
import gzip

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

DATA = "/usr/share/datasets/fashion-mnist/"


def pixels():
    def images(name):
        raw = gzip.open(DATA + name).read()
        return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    return torch.from_numpy(np.concatenate([images("train-images-idx3-ubyte.gz"),
                                            images("t10k-images-idx3-ubyte.gz")]))


def unit(x):
    return torch.nn.functional.normalize(x.float(), dim=1)


def components(x, n, whiten=False):
    centred = x - x.mean(0)
    values, vectors = torch.linalg.eigh((centred.T @ centred).double())
    values, vectors = values.flip(0)[:n], vectors.flip(1)[:, :n].float()
    z = centred @ vectors
    return z / (values / len(x)).sqrt().float()[None, :] if whiten else z


def knn(rows, k=20):
    rows = unit(rows)
    out = []
    for s in range(0, len(rows), 4096):
        sim = rows[s:s + 4096] @ rows.T
        sim[torch.arange(sim.shape[0]), torch.arange(s, s + sim.shape[0])] = -3
        out.append(sim.topk(k, dim=1).indices)
    return torch.cat(out)


def acc(y, c):
    k = max(y.max(), c.max()) + 1
    w = np.zeros((k, k), np.int64)
    np.add.at(w, (c, y), 1)
    r, col = linear_sum_assignment(-w)
    return w[r, col].sum() / len(y)


def fit(c, graph):
    same = (c[graph] == c[:, None]).float().mean().item()
    share = torch.bincount(c).float() / len(c)
    return same - (share ** 2).sum().item()


def train_heads(features, graph, clusters, n_heads, passes, seed=0, w=5.0, stop=None,
                linear=False):
    """The stage's heads trained together (one loss over all of them) for up to `passes` passes;
    `stop(consistency)`, given each pass's mean consistency per head, ends the training when it
    returns True. Returns each head's probabilities over all rows, their full losses (the
    criterion of the lowest-loss head) and the passes done. `linear`: each head one Linear(D, K)
    (SCAN's) instead of the stage's Linear-ReLU-Linear."""
    g = torch.Generator().manual_seed(seed)
    d, n = features.shape[1], len(features)
    first = [] if linear else [torch.nn.Linear(d, d) for _ in range(n_heads)]
    second = [torch.nn.Linear(d, clusters) for _ in range(n_heads)]
    adam = torch.optim.Adam([p for m in first + second for p in m.parameters()], lr=1e-3)

    def forward(h, x):
        if linear:
            return torch.softmax(second[h](x), 1)
        return torch.softmax(second[h](torch.relu(first[h](x))), 1)

    done = 0
    for _ in range(passes):
        order, consistency, batches = torch.randperm(n, generator=g), 0.0, 0
        for s in range(0, n, 512):
            i = order[s:s + 512]
            j = graph[i, torch.randint(graph.shape[1], (len(i),), generator=g)]
            loss = 0
            for h in range(n_heads):
                pa, pb = forward(h, features[i]), forward(h, features[j])
                m = pa.mean(0)
                c = -torch.log((pa * pb).sum(1).clamp_min(1e-7)).mean()
                consistency += c.item() / n_heads
                loss = loss + c + w * (m * torch.log(m.clamp_min(1e-7))).sum()
            adam.zero_grad()
            loss.backward()
            adam.step()
            batches += 1
        done += 1
        if stop is not None and stop(consistency / batches):
            break
    with torch.no_grad():
        probs = [forward(h, features) for h in range(n_heads)]
        totals = []
        for p in probs:
            consistency = -torch.log((p[:, None, :] * p[graph]).sum(2).clamp_min(1e-7)).mean()
            m = p.mean(0)
            totals.append(consistency.item() + w * (m * torch.log(m)).sum().item())
    return probs, totals, done


def consensus(labels):
    """The head whose clusters have the most mean ARI with the other heads'."""
    agreement = [np.mean([adjusted_rand_score(labels[h], labels[o])
                          for o in range(len(labels)) if o != h]) for h in range(len(labels))]
    return int(np.argmax(agreement))


def heads(features, graph, y, n_heads, passes, clusters=10, w=5.0, seed=0, linear=False):
    probs, totals, _ = train_heads(features, graph, clusters, n_heads, passes, seed, w,
                                   linear=linear)
    labels = [p.argmax(1).numpy() for p in probs]
    accs = [acc(y, c) for c in labels]
    lowest = int(np.argmin(totals))
    kept = consensus(labels)
    average = torch.zeros_like(probs[0])
    for h in range(n_heads):
        table = np.zeros((clusters, clusters), np.int64)
        np.add.at(table, (labels[h], labels[lowest]), 1)
        r, col = linear_sum_assignment(-table)
        perm = np.zeros(clusters, np.int64)
        perm[r] = col
        average[:, perm] += probs[h]
    return {"heads": [round(a, 4) for a in accs], "lowest_loss": round(accs[lowest], 4),
            "consensus": round(accs[kept], 4),
            "average": round(acc(y, average.argmax(1).numpy()), 4)}, \
        torch.from_numpy(labels[kept])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("embeddings", nargs="+")
    ap.add_argument("--spaces", default="pix,pixW,featW,bothW")
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--passes", type=int, default=10)
    ap.add_argument("--cross", action="store_true")
    ap.add_argument("--inputs", default="feat")
    args = ap.parse_args()
    torch.manual_seed(0)
    x = pixels()
    for path in args.embeddings:
        e = torch.load(path)
        f, y = e["features"].float(), e["labels"]
        rows = {"pix": lambda: components(x, 128), "pixW": lambda: components(x, 128, True),
                "feat": lambda: f, "featW": lambda: components(f, f.shape[1], True),
                "both": lambda: torch.cat([unit(components(x, 128)), unit(f)], 1),
                "bothW": lambda: torch.cat([unit(components(x, 128, True)),
                                            unit(components(f, f.shape[1], True))], 1)}
        inputs = {"feat": lambda: f, "pixW": lambda: components(x, 128, True),
                  "feat+pixW": lambda: torch.cat([unit(f), unit(components(x, 128, True))], 1)
                  }[args.inputs]()
        graphs, clusterings = {}, {}
        for space in args.spaces.split(","):
            graphs[space] = knn(rows[space]())
            purity = (y[graphs[space]] == y[:, None]).float().mean().item()
            scores, clusterings[space] = heads(inputs, graphs[space], y.numpy(), args.heads,
                                               args.passes)
            print(path, space, "purity", round(purity, 4), scores, flush=True)
        if args.cross:
            for space, c in clusterings.items():
                fits = {g: round(fit(c, graph), 4) for g, graph in graphs.items()}
                print(path, "clusters from", space, "fit", fits,
                      "mean", round(float(np.mean(list(fits.values()))), 4), flush=True)


if __name__ == "__main__":
    main()
