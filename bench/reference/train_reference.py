#!/usr/bin/python3
"""Reference DCACN training in Python PyTorch, written the way users of the official
Contrastive Clustering code train: torchvision transforms on PIL images in a DataLoader with
worker processes, the network from bench/py/dcacn_model.py, the same losses and multi-crop
pairing as dcacn (decoupled instance loss, decoupled column cluster loss, entropy term), Adam,
bf16 autocast and channels-last like the fmnist-cpu preset. Trains for a time budget on
Fashion-MNIST and writes metrics.csv and final.json into the run directory."""
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


def evaluate(model, images, labels, batch=512):
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.metrics.cluster import contingency_matrix
    model.eval()
    preds = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch]).float().div(255).unsqueeze(1)
            x = x.contiguous(memory_format=torch.channels_last)
            preds.append(model(x)[2].argmax(1))
    model.train()
    pred = torch.cat(preds).numpy()
    table = contingency_matrix(labels, pred)
    r, c = linear_sum_assignment(table, maximize=True)
    return {"acc": table[r, c].sum() / len(labels),
            "nmi": normalized_mutual_info_score(labels, pred),
            "ari": adjusted_rand_score(labels, pred)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--locals", type=int, default=4,
                    help="number of 14 px local views beside the two 28 px global views")
    ap.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                    help="cosine: decays to 0 over the time budget, as dcacn's does")
    a = ap.parse_args()
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
    model = DCACN(34, 1, a.width, "cifar", True).to(memory_format=torch.channels_last)
    adam = torch.optim.Adam(model.parameters(), lr=a.lr)
    start = time.time()
    metrics = open(os.path.join(a.out, "metrics.csv"), "w")
    metrics.write("epoch,step,wall_seconds,loss,images_per_second,acc,nmi,ari\n")
    step, epoch, done, train_seconds = 0, 0, False, 0.0
    while not done:
        total, count, t_epoch = 0.0, 0, time.time()
        for batch in loader:
            if time.time() - start >= a.minutes * 60:
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
                fraction = min(1.0, (time.time() - start) / (a.minutes * 60))
                for group in adam.param_groups:
                    group["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * fraction))
            adam.zero_grad()
            loss.backward()
            adam.step()
            step += 1
            total += loss.item()
            count += 1
        epoch += 1
        train_seconds += time.time() - t_epoch
        rate = count * a.batch_size / (time.time() - t_epoch)
        scores = evaluate(model, images, labels)
        metrics.write(f"{epoch},{step},{time.time() - start:.1f},{total / max(count, 1):.5f},"
                      f"{rate:.1f},{scores['acc']:.4f},{scores['nmi']:.4f},{scores['ari']:.4f}\n")
        metrics.flush()
        print(f"epoch {epoch} step {step}: {rate:.0f} img/s, {scores}", flush=True)
    # Training throughput: images per second of training time (evaluations excluded).
    final = {"steps": step, "images_per_second": step * a.batch_size / train_seconds,
             "wall_seconds": time.time() - start,
             "settings": {"locals": a.locals, "lr": a.lr, "lr_schedule": a.lr_schedule},
             **{k: float(v) for k, v in scores.items()}}
    with open(os.path.join(a.out, "final.json"), "w") as f:
        json.dump(final, f, indent=2)
    print(json.dumps(final))


if __name__ == "__main__":
    main()
