#!/usr/bin/python3
"""Writes metrics_sklearn.json: label vectors and the scores scikit-learn / scipy give them.

The C++ tests compare dcacn's metrics against this file; run it again only to add cases.
ACC is the best one-to-one matching (scipy.optimize.linear_sum_assignment on the
contingency table, maximised); NMI and ARI are sklearn.metrics with their defaults.
"""
import json

import numpy as np
import scipy
import sklearn
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def acc(y, c):
    table = contingency_matrix(y, c)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return table[rows, cols].sum() / len(y)


def case(name, y, c):
    y = [int(v) for v in y]
    c = [int(v) for v in c]
    return {
        "name": name, "labels_true": y, "labels_pred": c,
        "acc": float(acc(y, c)),
        "nmi": float(normalized_mutual_info_score(y, c)),
        "ari": float(adjusted_rand_score(y, c)),
    }


rng = np.random.default_rng(20261129)
cases = []
for i, (n, k_true, k_pred) in enumerate([(50, 3, 3), (200, 10, 10), (500, 5, 12), (1000, 10, 10),
                                         (2000, 20, 7), (3000, 10, 30), (40, 2, 2), (120, 7, 1)]):
    y = rng.integers(0, k_true, n)
    c = rng.integers(0, k_pred, n)
    cases.append(case(f"random_{i}_n{n}_{k_true}x{k_pred}", y, c))
# Correlated: a noisy copy of the truth, the common situation.
for i, noise in enumerate([0.1, 0.5, 0.9]):
    y = rng.integers(0, 10, 1500)
    c = np.where(rng.random(1500) < noise, rng.integers(0, 10, 1500), (y * 7 + 3) % 10)
    cases.append(case(f"noisy_copy_{noise}", y, c))
# Labels that do not start at 0, are negative or sparse.
y = rng.integers(0, 4, 300)
cases.append(case("offset_labels", y + 5, (y + rng.integers(0, 2, 300)) * 100 - 7))
cases.append(case("negative_labels", rng.integers(-3, 3, 250), rng.integers(-10, -5, 250)))
# Degenerate ones.
y = rng.integers(0, 10, 400)
cases.append(case("single_cluster", y, np.zeros(400, dtype=int)))
cases.append(case("single_class", np.full(400, 3), rng.integers(0, 6, 400)))
cases.append(case("both_single", np.full(100, 1), np.full(100, 9)))
cases.append(case("all_singletons", y, np.arange(400)))
cases.append(case("singletons_both", np.arange(60), np.arange(60)[::-1]))
cases.append(case("identical_permuted", y, (y * 3 + 1) % 10))
cases.append(case("one_sample", [4], [2]))
cases.append(case("two_samples_split", [0, 0], [0, 1]))
cases.append(case("two_samples_joined", [0, 1], [5, 5]))
cases.append(case("more_clusters_than_classes", [0, 0, 0, 1, 1, 1], [0, 0, 1, 2, 2, 3]))
cases.append(case("fewer_clusters_than_classes", [0, 1, 2, 3, 3, 2, 1, 0], [0, 0, 1, 1, 0, 0, 1, 1]))

out = {
    "generator": "tests/reference/make_metrics_reference.py",
    "sklearn_version": sklearn.__version__,
    "scipy_version": scipy.__version__,
    "numpy_version": np.__version__,
    "cases": cases,
}
with open("metrics_sklearn.json", "w") as f:
    json.dump(out, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(cases)} cases with scikit-learn {sklearn.__version__}")
