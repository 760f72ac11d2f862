#!/usr/bin/python3
"""Reference DCACN training in Python PyTorch, written the way users of the official
Contrastive Clustering code train: torchvision transforms on PIL images in a DataLoader with
worker processes, the network from bench/py/dcacn_model.py, the same losses and multi-crop
pairing as dcacn (decoupled instance loss, decoupled column cluster loss, entropy term), Adam,
bf16 autocast and channels-last like the fmnist-cpu preset. Trains for a time budget on
Fashion-MNIST and writes metrics.csv and final.json into the run directory.

--neighbour-stage runs the rest of fmnist-cpu's recipe inside the same budget: contrastive
training stops --stage-reserve seconds before the end, then the neighbour stage as dcacn runs it
(bench/py/neighbour_heads_replica.py's heads): 20 neighbours per image mined in the pixels'
first 128 principal components, whitened; 8 heads Linear(D, D)-ReLU-Linear(D, K) on the frozen
backbone features, Adam 1e-3, batches of 512 anchors with one random neighbour each, loss
-mean log <p_i, p_j> + 5 sum m log m, up to 20 passes, stopping once 2 passes in a row have not
lowered the mean consistency by 1 % (or when the budget is spent), the consensus head (most mean
ARI with the others) kept. --eval-every-minutes adds curve points on a fixed subsample."""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "py"))
import neighbour_heads_replica as replica  # noqa: E402
from dcacn_model import DCACN  # noqa: E402
from tv_views import view  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"


def load_fmnist():
    def read(name, offset):
        with gzip.open(f"{FMNIST}/{name}") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    x = np.concatenate([read("train-images-idx3-ubyte.gz", 16),
                        read("t10k-images-idx3-ubyte.gz", 16)]).reshape(-1, 28, 28)
    y = np.concatenate([read("train-labels-idx1-ubyte.gz", 8),
                        read("t10k-labels-idx1-ubyte.gz", 8)]).astype(np.int64)
    return x, y


class Views(torch.utils.data.Dataset):
    def __init__(self, images, views):
        self.images, self.views = images, views

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i], mode="L")
        return [v(img) for v in self.views]


def contrast(a, b, t, decoupled=True):
    m = a.shape[0]
    z = F.normalize(torch.cat([a, b]).float(), dim=1)
    sim = z @ z.t() / t
    pos = (torch.arange(2 * m) + m) % (2 * m)
    pos_sim = sim[torch.arange(2 * m), pos]
    mask = torch.eye(2 * m, dtype=torch.bool)
    if decoupled:
        mask[torch.arange(2 * m), pos] = True
    return (torch.logsumexp(sim.masked_fill(mask, float("-inf")), 1) - pos_sim).mean()


def entropy_term(p):
    q = p.float().mean(0)
    return math.log(p.shape[1]) + (q * torch.log(q.clamp_min(1e-30))).sum()


def pair_loss(hu, pu, hv, pv):
    return (contrast(hu, hv, 0.5) + contrast(pu.t(), pv.t(), 1.0)
            + entropy_term(pu) + entropy_term(pv))


def forward_all(model, images, batch=512):
    """The backbone features and cluster probabilities of `images`, in eval mode."""
    model.eval()
    features, probs = [], []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch]).float().div(255).unsqueeze(1)
            x = x.contiguous(memory_format=torch.channels_last)
            z, _, p = model(x)
            features.append(z.float())
            probs.append(p.float())
    model.train()
    return torch.cat(features), torch.cat(probs)


def scores(labels, pred):
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.metrics.cluster import contingency_matrix
    table = contingency_matrix(labels, pred)
    r, c = linear_sum_assignment(table, maximize=True)
    return {"acc": table[r, c].sum() / len(labels),
            "nmi": normalized_mutual_info_score(labels, pred),
            "ari": adjusted_rand_score(labels, pred)}


def evaluate(model, images, labels):
    return scores(labels, forward_all(model, images)[1].argmax(1).numpy())


def neighbour_stage(features, images, deadline, clusters=10, n_heads=8, passes=20, seed=0):
    """The neighbour stage above; returns the kept head's clusters and what it did."""
    pixels = torch.from_numpy(images.reshape(len(images), -1)).float().div(255)
    graph = replica.knn(replica.components(pixels, 128, whiten=True))
    best = [math.inf, 0]  # the lowest mean consistency so far, passes since it

    def stop(consistency):
        if consistency < best[0] * 0.99:
            best[0], best[1] = consistency, 0
        else:
            best[1] += 1
        return best[1] >= 2 or time.time() >= deadline

    probs, _, done = replica.train_heads(features, graph, clusters, n_heads, passes, seed,
                                         stop=stop)
    labels = [p.argmax(1).numpy() for p in probs]
    kept = replica.consensus(labels)
    return labels[kept], {"passes": done, "kept_head": kept}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--depth", type=int, choices=[18, 34], default=18,
                    help="the ResNet's depth (fmnist-cpu's is 18)")
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--locals", type=int, default=4,
                    help="number of 14 px local views beside the two 28 px global views")
    ap.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                    help="cosine: decays to 0 over the time budget, as dcacn's does")
    ap.add_argument("--neighbour-stage", action="store_true",
                    help="the neighbour stage at the end of the budget (see above)")
    ap.add_argument("--stage-reserve", type=float, default=110,
                    help="seconds of the budget left to the neighbour stage and the scoring")
    ap.add_argument("--eval-every-minutes", type=float, default=0,
                    help="> 0: a curve point on --eval-images images that often")
    ap.add_argument("--eval-images", type=int, default=5000)
    a = ap.parse_args()
    start = time.time()  # the budget covers loading, every stage and the final scoring
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    torch.set_num_threads(os.cpu_count())
    images, labels = load_fmnist()
    views = [view(28, (0.2, 1.0))] * 2 + [view(14, (0.05, 0.5), blur=True)] * a.locals
    # dcacn's multi-crop pairing: the global-global pair and every global-local pair.
    pairs = [(0, 1)] + [(g, 2 + l) for g in range(2) for l in range(a.locals)]
    loader = torch.utils.data.DataLoader(Views(images, views), batch_size=a.batch_size,
                                         shuffle=True, drop_last=True, num_workers=a.workers,
                                         persistent_workers=True)
    model = DCACN(a.depth, 1, a.width, "cifar", True).to(memory_format=torch.channels_last)
    adam = torch.optim.Adam(model.parameters(), lr=a.lr)
    end = start + a.minutes * 60
    train_end = end - (a.stage_reserve if a.neighbour_stage else 0)
    subset = np.sort(np.random.RandomState(a.seed).choice(
        len(images), min(a.eval_images, len(images)), replace=False))
    every = a.eval_every_minutes * 60
    next_eval = start + every if every > 0 else math.inf
    metrics = open(os.path.join(a.out, "metrics.csv"), "w")
    metrics.write("stage,epoch,step,wall_seconds,loss,images_per_second,acc,nmi,ari,"
                  "eval_images\n")

    def point(stage, result, loss, rate, n):
        metrics.write(f"{stage},{epoch},{step},{time.time() - start:.1f},{loss:.5f},{rate:.1f},"
                      f"{result['acc']:.4f},{result['nmi']:.4f},{result['ari']:.4f},{n}\n")
        metrics.flush()
        print(f"stage {stage} epoch {epoch} step {step} {time.time() - start:.0f} s: "
              f"{rate:.0f} img/s, {result}", flush=True)

    step, epoch, done, train_seconds = 0, 0, False, 0.0
    while not done:
        total, count, t_epoch = 0.0, 0, time.time()
        for batch in loader:
            if time.time() >= train_end:
                done = True
                break
            outs = []
            with torch.autocast("cpu", dtype=torch.bfloat16):
                for size_group in (batch[:2], batch[2:]):
                    x = torch.cat(size_group).contiguous(memory_format=torch.channels_last)
                    _, h, p = model(x)
                    outs += list(zip(h.split(a.batch_size), p.split(a.batch_size)))
            loss = sum(pair_loss(*outs[u], *outs[v]) for u, v in pairs) / len(pairs)
            if a.lr_schedule == "cosine":
                fraction = min(1.0, (time.time() - start) / (train_end - start))
                for group in adam.param_groups:
                    group["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * fraction))
            adam.zero_grad()
            loss.backward()
            adam.step()
            step += 1
            total += loss.item()
            count += 1
            if time.time() >= next_eval and time.time() < train_end:
                seconds = time.time() - t_epoch
                point(1, evaluate(model, images[subset], labels[subset]), total / count,
                      count * a.batch_size / seconds, len(subset))
                next_eval += every
        epoch += 1
        train_seconds += time.time() - t_epoch
        rate = count * a.batch_size / (time.time() - t_epoch)
        loss_mean = total / max(count, 1)
        if not done and every <= 0:  # the epoch's point on all images, as before
            point(1, evaluate(model, images, labels), loss_mean, rate, len(images))
    features, probs = forward_all(model, images)
    result = scores(labels, probs.argmax(1).numpy())
    point(1, result, loss_mean, rate, len(images))
    stage = {}
    if a.neighbour_stage:
        t_stage = time.time()
        pred, stage = neighbour_stage(features, images, end, seed=a.seed)
        stage["seconds"] = time.time() - t_stage
        result = scores(labels, pred)
        point(3, result, loss_mean, rate, len(images))
    # Training throughput: images per second of training time (evaluations excluded).
    final = {"steps": step, "images_per_second": step * a.batch_size / train_seconds,
             "wall_seconds": time.time() - start,
             "settings": {"depth": a.depth, "width": a.width, "locals": a.locals, "lr": a.lr,
                          "lr_schedule": a.lr_schedule,
                          "neighbour_stage": a.neighbour_stage,
                          "stage_reserve": a.stage_reserve if a.neighbour_stage else 0},
             "neighbour_stage": stage,
             **{k: float(v) for k, v in result.items()}}
    with open(os.path.join(a.out, "final.json"), "w") as f:
        json.dump(final, f, indent=2)
    print(json.dumps(final))


if __name__ == "__main__":
    main()
