"""Checks of bench/kill_soak on a run directory after a kill, and at the end against an
uninterrupted reference run.

  soak_check.py state RUN_DIR            every checkpoint loads; metrics.csv has no torn or
                                         duplicated rows. Prints one line; exit 1 on a failure.
  soak_check.py compare RUN_DIR REF_DIR  final weights, optimizer state, generator state and
                                         metrics rows (timing columns aside) equal.
"""
import csv
import glob
import io
import os
import re
import sys
import zipfile

import torch

TIMING = {"wall_seconds", "images_per_second"}


def metrics_problems(path):
    if not os.path.exists(path):
        return [], []
    with open(path, newline="") as f:
        text = f.read()
    problems = []
    if text and not text.endswith("\n"):
        problems.append("last line not terminated")
    rows = list(csv.reader(text.splitlines()))
    header, body = rows[0], rows[1:]
    steps = []
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            problems.append(f"line {i} has {len(row)} fields, header {len(header)}")
            continue
        steps.append(int(row[header.index("step")]))
    if any(b <= a for a, b in zip(steps, steps[1:])):
        problems.append(f"steps not increasing: {steps}")
    return problems, body


def state(run):
    problems = []
    loaded = 0
    for ck in sorted(glob.glob(os.path.join(run, "checkpoints", "*.pt"))):
        try:
            d = torch.load(ck)
            assert d["format"] == "dcacn-checkpoint", d.get("format")
            loaded += 1
        except Exception as e:  # noqa: BLE001 - any failure to load is the finding
            problems.append(f"{os.path.basename(ck)} does not load: {e}")
    tmp = glob.glob(os.path.join(run, "checkpoints", "*.tmp"))
    metric_problems, rows = metrics_problems(os.path.join(run, "metrics.csv"))
    problems += metric_problems
    step = torch.load(os.path.join(run, "checkpoints", "last.pt"))["step"] if loaded else 0
    print(f"checkpoints loaded {loaded}, temporaries left {len(tmp)}, metrics rows {len(rows)}, "
          f"last.pt step {step}" + ("; PROBLEMS: " + "; ".join(problems) if problems else ""))
    return 1 if problems else 0


def compare(run, ref):
    a = torch.load(os.path.join(run, "checkpoints", "last.pt"))
    b = torch.load(os.path.join(ref, "checkpoints", "last.pt"))
    diffs = []
    for key in ("step", "epoch", "batch_in_epoch"):
        if a[key] != b[key]:
            diffs.append(f"{key} {a[key]} vs {b[key]}")
    if list(a["model"]) != list(b["model"]):
        diffs.append("different tensor names")
    else:
        diffs += [f"weight {k} differs" for k in a["model"] if not torch.equal(a["model"][k], b["model"][k])]
    if not torch.equal(a["augment_rng"], b["augment_rng"]):
        diffs.append("augment_rng differs")
    # LibTorch's Adam archive keys each parameter's state by its address in memory, which
    # differs between processes (and so does the order of the records): compare the state
    # tensors as a multiset.
    def adam_tensors(t):
        z = zipfile.ZipFile(io.BytesIO(t.numpy().tobytes()))
        return sorted(z.read(n) for n in z.namelist() if re.search(r"/data/[0-9]+$", n))
    if adam_tensors(a["optimizer"]) != adam_tensors(b["optimizer"]):
        diffs.append("optimizer state differs")
    _, ra = metrics_problems(os.path.join(run, "metrics.csv"))
    _, rb = metrics_problems(os.path.join(ref, "metrics.csv"))
    with open(os.path.join(ref, "metrics.csv")) as f:
        header = f.readline().strip().split(",")
    keep = [i for i, h in enumerate(header) if h not in TIMING]
    if [[r[i] for i in keep] for r in ra] != [[r[i] for i in keep] for r in rb]:
        diffs.append("metrics rows differ")
    n = len(a["model"])
    print(f"step {a['step']}: {n} weight tensors, Adam state (as a multiset), generator state, {len(ra)} metrics "
          f"rows: " + ("IDENTICAL to the uninterrupted run" if not diffs else "; ".join(diffs)))
    return 1 if diffs else 0


if __name__ == "__main__":
    if sys.argv[1] == "state":
        sys.exit(state(sys.argv[2]))
    sys.exit(compare(sys.argv[2], sys.argv[3]))
