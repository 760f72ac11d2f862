#!/usr/bin/python3
"""Loads a `dcacn embed` file with torch.load and checks it; writes
bench/results/embed_python_check.md."""
import datetime
import os
import sys

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "bench", "results", "embed_python_check.md")


def acc(y, c):
    table = contingency_matrix(y, c)
    r, k = linear_sum_assignment(table, maximize=True)
    return table[r, k].sum() / len(y)


def main():
    path, command = sys.argv[1], sys.argv[2]
    d = torch.load(path)
    assert isinstance(d, dict), type(d)
    lines = ["# `dcacn embed` output read by Python's torch.load", "",
             f"- command: `{command}`",
             f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
             f"- torch {torch.__version__} (Debian python3-torch), file `{os.path.relpath(path, ROOT)}`",
             "", "| key | type | shape / value |", "|---|---|---|"]
    for key, value in d.items():
        if torch.is_tensor(value):
            lines.append(f"| {key} | tensor {str(value.dtype).replace('torch.', '')} | {list(value.shape)} |")
        elif isinstance(value, list):
            lines.append(f"| {key} | list of {len(value)} {type(value[0]).__name__ if value else ''} | "
                         f"{', '.join(map(str, value[:3]))}{', ...' if len(value) > 3 else ''} |")
        else:
            lines.append(f"| {key} | {type(value).__name__} | {value} |")
    p, c = d["probabilities"], d["clusters"]
    checks = {
        "clusters == probabilities.argmax(1)": bool(torch.equal(c, p.argmax(1))),
        "probability rows sum to 1 (max error)": float((p.sum(1) - 1).abs().max()),
        "embeddings have unit norm (max error)": float((d["embeddings"].norm(dim=1) - 1).abs().max()),
        "rows agree": len({p.shape[0], c.shape[0], d["features"].shape[0], d["embeddings"].shape[0],
                           d["labels"].shape[0]}) == 1,
    }
    y, cl = d["labels"].numpy(), c.numpy()
    head = (acc(y, cl), normalized_mutual_info_score(y, cl), adjusted_rand_score(y, cl))
    km = KMeans(n_clusters=p.shape[1], n_init=10, random_state=0).fit_predict(d["features"].numpy())
    feat = (acc(y, km), normalized_mutual_info_score(y, km), adjusted_rand_score(y, km))
    lines += ["", "| check | result |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in checks.items()]
    lines += ["", "Scores computed in Python from the file alone (labels vs clusters):", "",
              "| clustering | ACC | NMI | ARI |", "|---|---|---|---|",
              "| cluster head (the file's `clusters`) | %.4f | %.4f | %.4f |" % head,
              "| scikit-learn KMeans on the file's `features` (n_init 10) | %.4f | %.4f | %.4f |" % feat]
    ok = checks["clusters == probabilities.argmax(1)"] and checks["rows agree"] and \
        checks["probability rows sum to 1 (max error)"] < 1e-4 and \
        checks["embeddings have unit norm (max error)"] < 1e-3
    lines += ["", f"All checks passed: {'yes' if ok else 'NO'}"]
    with open(RESULTS, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
