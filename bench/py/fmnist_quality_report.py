#!/usr/bin/python3
"""Builds bench/results/fmnist_quality.md from the finished runs of bench/fmnist_quality."""
import csv
import datetime
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "bench", "results", "fmnist_quality.md")
LABELS = {
    "dcacn": "dcacn fmnist-cpu: contrastive stage + neighbour stage (pixel-space neighbours)",
    "no-neighbours": "ablation: fmnist-cpu without the neighbour stage (contrastive for the "
                     "whole budget: the preset before the stage)",
    "pipeline": "dcacn fmnist-cpu as the README runs it (milestone 3, second version): "
                "contrastive until the budget leaves the neighbour stage its estimated time, then "
                "the neighbour stage (pixels, 128 principal components); every stage inside the "
                "budget, an evaluation on 5,000 images every minute",
    "pipeline-whitened": "dcacn fmnist-cpu as the README runs it (milestone 3, third version): "
                         "contrastive until the budget leaves the neighbour stage its estimated "
                         "time, then the neighbour stage on whitened pixels (128 principal "
                         "components at unit variance); every stage inside the budget",
    "pipeline-nviews": "dcacn fmnist-cpu with neighbour views (milestone 3, fourth version): the "
                       "contrastive stage draws every image's second global view from one of its "
                       "20 whitened pixel neighbours (contrastive:neighbours=1), then the "
                       "neighbour stage as in the third version; every stage inside the budget",
    "pipeline-nviews-features": "dcacn fmnist-cpu with neighbour views, then the neighbour stage "
                                "on 20 neighbours mined in the whitened backbone features "
                                "(neighbours:space=features); every stage inside the budget",
    "pipeline-nviews-own": "dcacn fmnist-cpu with neighbour views, then the neighbour stage on "
                           "the whitened features with the network's own head competing "
                           "(neighbours:space=features:own=on: the clusters that fit the pixel "
                           "and feature neighbours better are kept); every stage inside the "
                           "budget",
    "pipeline-nviews-remine": "dcacn fmnist-cpu with neighbour views re-mined halfway: half the "
                              "budget with pixel neighbours, then the rest with neighbours mined "
                              "in the pixels and the features side by side (contrastive:"
                              "neighbours=1:space=both), then the neighbour stage as in "
                              "pipeline-nviews-own; every stage inside the budget",
    "pipeline-nviews-ema": "dcacn fmnist-cpu (neighbour views, then the neighbour stage on the "
                           "features with own=on) with the contrastive stage's weights averaged "
                           "(contrastive:...:ema=0.999: the exponential moving average takes the "
                           "network's place when the stage ends); every stage inside the budget",
    "pipeline-nviews-ema-w33": "dcacn fmnist-cpu (neighbour views, then the neighbour stage on "
                               "the features with own=on) with the contrastive stage's weights "
                               "averaged over about its last third of steps "
                               "(contrastive:...:ema=0.999:ema_window=0.33); every stage inside "
                               "the budget",
    "pipeline-nviews-cosine": "dcacn fmnist-cpu (neighbour views, then the neighbour stage on "
                              "the features with own=on) with the contrastive stage's learning "
                              "rate decayed to zero over the budget on the cosine schedule "
                              "(contrastive:...:schedule=cosine); every stage inside the budget",
    "pipeline-resnet18": "dcacn fmnist-cpu's pipeline as the README runs it (third version) on "
                         "ResNet-18 + CBAM (--arch resnet18, half the FLOPs of ResNet-34)",
    "pipeline-progressive": "dcacn fmnist-cpu's pipeline with progressive resizing: every view "
                            "at 0.7 of its side for the first half of the contrastive stage "
                            "(contrastive:share=1:early_size=0.7:early_share=0.5), then the "
                            "neighbour stage; every stage inside the budget",
    "pipeline-scan": "dcacn fmnist-cpu as the README runs it (milestone 3): contrastive (half the "
                     "budget), neighbour stage (pixels), scan (lr 1e-3) to the budget's end less "
                     "what the last stage needs, neighbour stage again; every stage inside the "
                     "budget",
    "dcacn-60min": "dcacn fmnist-cpu for 60 min: contrastive stage + neighbour stage (pixel-space "
                   "neighbours)",
    "pipeline-nviews-own-60min": "dcacn fmnist-cpu's pipeline (neighbour views, then the "
                                 "neighbour stage in the features with own=on) with a 60-minute "
                                 "budget: what twice the compute gives",
    "feature-neighbours": "ablation: neighbour stage on neighbours mined in the features",
    "garment-neighbours": "ablation: garment views (as garment-views) + the neighbour stage",
    "dcacn-composite": "dcacn fmnist-cpu before the fused CBAM kernels (composite ATen ops, "
                       "as `DCACN_CBAM_FUSED=0` runs today)",
    "infonce": "ablation: InfoNCE instead of decoupled (both levels)",
    "no-cbam": "ablation: no CBAM (plain ResNet-34)",
    "two-views": "ablation: two 28 px views, no local crops",
    "rows": "ablation: cluster loss on rows (paper eq. 7 literally)",
    "earlier-preset": "dcacn fmnist-cpu's earlier settings (2x28 + 2x14 views, lr 3e-4)",
    "lr-1e-3": "tuning: constant Adam learning rate 1e-3 instead of 3e-4",
    "long-lr-1e-3-seed1": "longer budget: constant learning rate 1e-3, seed 1",
    "tune-crop35": "screen: lr 1e-3, milder crops (global scale 0.35-1, local 0.1-0.5)",
    "tune-tau-0.2": "screen: lr 1e-3, instance temperature 0.2",
    "tune-cosine": "screen: lr 1e-3 with the cosine schedule",
    "tune-cosine-crop35": "screen: lr 1e-3 with the cosine schedule, milder crops",
    "tune-4local": "screen: lr 1e-3, four local crops instead of two",
    "tune-ratio1": "screen: lr 1e-3, square crops (aspect ratio 1)",
    "tune-ratio1-nojitter": "screen: lr 1e-3, square crops, no brightness/contrast jitter on "
                            "the global views",
    "garment-views": "milestone 2 ablation: views for small grayscale garments (milder crops, "
                     "affine, brightness/contrast, blur, erasing)",
    "selflabel": "milestone 2 ablation: self-labelling stage in the last third of the budget",
    "garment-selflabel": "milestone 2: garment views + self-labelling stage (last third)",
    "python-reference": "Python PyTorch reference (torchvision DataLoader, same model, losses "
                        "and views as dcacn fmnist-cpu)",
    "python-reference-earlier": "Python PyTorch reference with the earlier settings (2x28 + "
                                "2x14 views, lr 3e-4)",
}


def settings(run):
    """The views and learning rate a run used, from its config.json (dcacn) or final.json
    (the Python reference); '-' when the run predates recording them."""
    config = os.path.join(run, "config.json")
    if os.path.exists(config):
        c = json.load(open(config))
        views = c["views"] or "the garment views (then Fashion-MNIST's default)"
        stage = (f", self-labelling {c['selflabel_minutes']:g} min"
                 if c.get("selflabel_minutes") else "")
        space = c.get("neighbour_space", "off")
        if c.get("stages"):
            stage += f", stages {c['stages']}"
        elif space != "off":
            stage += (f", neighbour stage in {space.rstrip('s')} space (k {c['neighbour_k']}, "
                      f"{c['neighbour_heads']} heads, {c['neighbour_epochs']} epochs)")
        return f"{views}, {c['lr']:g} {c.get('lr_schedule', 'constant')}{stage}"
    s = json.load(open(os.path.join(run, "final.json"))).get("settings")
    if s is None:
        return "-"
    return f"2x28@0.2-1,{s['locals']}x14@0.05-0.5, {s['lr']:g} {s['lr_schedule']}"


def run_names(work):
    """(run folder, variant, seed) of every finished run, in LABELS order then by seed."""
    found = []
    names = os.listdir(work) if os.path.isdir(work) else []
    for variant in LABELS:
        for name in sorted(names):
            seed = 0
            if name != variant:
                if not name.startswith(variant + "-seed"):
                    continue
                seed = int(name[len(variant) + 5:])
            if os.path.exists(os.path.join(work, name, "final.json")):
                found.append((name, variant, seed))
    return found


def label(variant, seed, run=None):
    """The row's name; with the run's folder `run`, the machine it ran on where the run
    recorded one (runs since 2026-12-05), so that runs of the same variant on different machines
    keep rows of their own."""
    text = LABELS[variant] + (f", seed {seed}" if seed else "")
    path = os.path.join(run, "machine") if run else None
    machine = open(path).read().strip() if path and os.path.exists(path) else ""
    return text + (f" (on {machine})" if machine else "")


def earlier_sections(present):
    """The rows and curve sections of the results file whose runs are no longer in the work
    folder (runs of earlier sittings), so that rebuilding keeps them."""
    if not os.path.exists(RESULTS):
        return [], []
    text = open(RESULTS).read().split("\n")
    rows, curves, current, in_main_table = [], [], None, True
    for line in text:
        if line.startswith("## "):
            in_main_table = False
            current = None
            if line.startswith("## Learning curve: "):
                if line[len("## Learning curve: "):] not in present:
                    current = [line]
                    curves.append(current)
            continue
        if current is not None:
            current.append(line)
        elif in_main_table and line.startswith("| ") and not line.startswith("| run |"):
            if "|---" not in line and line[2:].split(" | ")[0] not in present:
                rows.append(line)
    return rows, curves


def old_table_rows(heading):
    """The body rows of the table under `heading` in the results file as it stands (the rows of
    earlier sittings, whose runs may be gone from the work folder)."""
    if not os.path.exists(RESULTS):
        return []
    rows, inside = [], False
    for line in open(RESULTS).read().split("\n"):
        if line.startswith("## "):
            inside = line.startswith(heading)
            continue
        if inside and line.startswith("| ") and "|---" not in line:
            rows.append(line)
    return rows[1:]  # the header row is not a body row


def merged(lines, heading, old_rows, present_cells):
    """`lines` (a table section, maybe empty) with the rows of `old_rows` whose first cell it
    does not have; a new row that is all '-' gives way to the old row of the same first cell."""
    first = lambda row: row[2:].split(" | ")[0]
    blank = lambda row: all(c.strip() in ("-", "") for c in row.strip("|").split("|")[1:])
    old = {first(r): r for r in old_rows}
    out = []
    for line in lines:
        if line.startswith("| ") and "|---" not in line and first(line) in old and blank(line):
            line = old.pop(first(line))
        elif line.startswith("| "):
            old.pop(first(line), None)
        out.append(line)
    extra = [r for c, r in old.items() if c not in present_cells]
    if extra and not out:
        return []  # the section is rebuilt below from the old file's text
    return out + extra


def old_section(heading):
    """The whole section under `heading` in the results file as it stands."""
    out, inside = [], False
    for line in open(RESULTS).read().split("\n"):
        if line.startswith("## "):
            if inside:
                break
            inside = line.startswith(heading)
            if inside:
                out = ["", line]
            continue
        if inside:
            out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out


def seeds_table(work, found):
    """Mean and spread over seeds of every variant run with more than one seed."""
    by_variant = {}
    for name, variant, seed in found:
        final = json.load(open(os.path.join(work, name, "final.json")))
        head = final.get("cluster_head", final)
        group = label(variant, 0, os.path.join(work, name))  # runs of one variant on one machine
        by_variant.setdefault(group, []).append((seed, head))
    lines = []
    for variant, runs in by_variant.items():
        if len(runs) < 2:
            continue
        if not lines:
            lines = ["", "## Over seeds", "",
                     "| run | seeds | ACC mean (min-max) | NMI mean (min-max) | ARI mean (min-max) |",
                     "|---|---|---|---|---|"]
        cells = []
        for key in ("acc", "nmi", "ari"):
            v = [h[key] for _, h in runs]
            cells.append(f"{sum(v) / len(v):.4f} ({min(v):.4f}-{max(v):.4f})")
        seeds = ", ".join(str(s) for s, _ in sorted(runs, key=lambda r: r[0]))
        lines.append(f"| {variant} | {seeds} | " + " | ".join(cells) + " |")
    return lines


# The recipe's ablation at equal time (30 min of training in all): views x what follows the
# contrastive stage. Variant names; a cell's runs are all its seeds.
ABLATION = [
    ("the preset's views (CC's crops and jitter)",
     [("contrastive only", "no-neighbours"), ("+ neighbour stage", "dcacn"),
      ("+ self-labelling stage", "selflabel")]),
    ("garment views (affine, brightness/contrast, blur, erasing)",
     [("contrastive only", "garment-views"), ("+ neighbour stage", "garment-neighbours"),
      ("+ self-labelling stage", "garment-selflabel")]),
]


def ablation_table(work, found):
    """ACC / NMI / ARI of each ablation cell (mean over its seeds), '-' where not run."""
    heads, starts = {}, {}
    for name, variant, seed in found:
        curve = os.path.join(work, name, "metrics.csv")
        if os.path.exists(curve):
            rows = list(csv.DictReader(open(curve)))
            contrastive = [r for r in rows if (r.get("stage") or "1") == "1"]
            if contrastive and len(contrastive) < len(rows):  # a second stage followed
                starts.setdefault(variant, []).append(
                    {k: float(contrastive[-1][k]) for k in ("acc", "nmi", "ari")})
        if not os.path.exists(os.path.join(work, name, "budget")):
            continue
        if open(os.path.join(work, name, "budget")).read().strip().endswith("steps"):
            continue  # a step budget is not the table's equal time
        final = json.load(open(os.path.join(work, name, "final.json")))
        heads.setdefault(variant, []).append(final.get("cluster_head", final))
    lines = ["", "## Ablation at equal time (30 min of training in all)", "",
             "Cluster-head ACC / NMI / ARI on all 70,000 images, mean over the seeds run (their "
             "number in brackets); '-': not run at 30 min on this machine. Where no contrastive-only "
             "run exists, the contrastive-only cell (marked +) gives the contrastive head of the "
             "runs in the next cell at the moment their second stage began (after 27 min for the "
             "neighbour stage): the same runs without that stage, 3 minutes short.", "",
             "| views | " + " | ".join(c for c, _ in ABLATION[0][1]) + " |",
             "|---|" + "---|" * len(ABLATION[0][1])]

    def cell(runs, mark=""):
        mean = [sum(h[k] for h in runs) / len(runs) for k in ("acc", "nmi", "ari")]
        return " / ".join(f"{m:.4f}" for m in mean) + f" ({len(runs)}{mark})"

    for views, cells in ABLATION:
        row = []
        for i, (_, variant) in enumerate(cells):
            runs = heads.get(variant, [])
            if runs:
                row.append(cell(runs))
            elif i == 0 and starts.get(cells[1][1]):
                row.append(cell(starts[cells[1][1]], "+"))
            else:
                row.append("-")
        lines.append(f"| {views} | " + " | ".join(row) + " |")
    return lines


def probe_table(work, found):
    lines = []
    for name, variant, seed in found:
        path = os.path.join(work, name, "probe.json")
        if not os.path.exists(path):
            continue
        p = json.load(open(path))
        f = p["features"]
        if not lines:
            px = p.get("pixels")
            lines = ["", "## What the representation knows (bench/py/probe.py)", "",
                     f"On {p['images']} images (L2-normalised backbone features): share of the 20 "
                     "nearest neighbours of each image with its class, a logistic-regression "
                     "probe trained on half and scored on the other half, k-means (K = 10) on "
                     "the features; the cluster head's ACC on all images.", "",
                     "| run | k-NN purity | linear probe | k-means ACC | head ACC |",
                     "|---|---|---|---|---|"]
            if px:
                lines.append(f"| raw pixels | {px['knn_purity']:.4f} | {px['linear_probe']:.4f} | "
                             f"{px['kmeans_acc']:.4f} | - |")
        lines.append(f"| {label(variant, seed, os.path.join(work, name))} | {f['knn_purity']:.4f} | "
                     f"{f['linear_probe']:.4f} | {f['kmeans_acc']:.4f} | {p['head_acc']:.4f} |")
    return lines


def main():
    work, command = sys.argv[1], sys.argv[2]
    rows = []
    found = run_names(work)
    for name, variant, seed in found:
        path = os.path.join(work, name, "final.json")
        final = json.load(open(path))
        run = os.path.join(work, name)
        if os.path.exists(os.path.join(run, "budget")):
            budget = open(os.path.join(run, "budget")).read().strip()
        else:  # runs from before step budgets existed
            budget = open(os.path.join(run, "budget_minutes")).read().strip() + " min"
        if "train_seconds" in final and not budget.endswith("steps"):
            budget += f"; {final['train_seconds'] / 60:.1f} min in all"
        background = os.path.exists(os.path.join(run, "background"))
        head = final.get("cluster_head", final)
        km = final.get("kmeans_on_features", {})
        rate = final.get("training_images_per_second", final.get("images_per_second", 0))
        finished = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
        rows.append((label(variant, seed, run), settings(run), budget, head, km,
                     final.get("step", final.get("steps")), rate, background,
                     finished.strftime("%Y-%m-%d %H:%M")))
    cpu = subprocess.run("lscpu | sed -n 's/^Model name: *//p'", shell=True, capture_output=True,
                         text=True).stdout.strip()
    lines = [
        "# Fashion-MNIST clustering quality at a fixed budget",
        "",
        "- command: `bench/fmnist_quality [--minutes M | --steps S] [--background] [VARIANT ...]`; "
        "each row is one variant's run (`bench/fmnist_quality --minutes 30 VARIANT` or "
        "`bench/fmnist_quality --steps S --background VARIANT`), finished at the time given; this "
        f"file was last rebuilt by `{command}`",
        "- budgets: 30 min of training, or the same number of optimiser steps as the dcacn run "
        "made in 30 min. Runs marked * ran at the lowest CPU priority beside other work: their "
        "accuracy is that of the step budget, their images/s is not comparable",
        "- the composite-CBAM row and the InfoNCE ablation ran before CBAM's fused kernels existed "
        "(same arithmetic, slower steps: 1427 steps in 30 min); the step-budget ablations get "
        "those 1427 steps and compare with that row",
        "- tuning screens (tune-*) ran two at a time, each with `--threads 1` at nice 10, for "
        "819 steps (3 epochs): compare them with each other and with the lr-1e-3 run's curve "
        "at epoch 3 (ACC 0.6344), not with the 30-min rows. tune-4local was then run alone "
        "for 30 min (its epoch-3 evaluation, 0.6443, is the screen's figure: same seed, same "
        "steps) and became the preset",
        "- milestone 2 rows (garment views, self-labelling stage): `bench/fmnist_quality "
        "[--seed N] VARIANT`; a self-labelling run spends 20 min in the contrastive stage and "
        "10 in the self-labelling one (30 min of training in all), and its curve shows both "
        "(stage 2 rows: share of images pseudo-labelled since the previous row and their ACC, "
        "computed for the log only). Each run's model is then probed (table below)",
        "- neighbour stage rows (the preset since it): 27 of the 30 min in the contrastive stage, "
        "then the neighbour stage (stage 3 in the curves: mining, heads, the final scores); "
        "'min in all' is the run's whole training time from its final.json, stage included. The "
        "seed-0 run had compiles beside it (at nice 19) from 21:10 to 21:35 UTC: marked *, its "
        "step count and stage time (202 s, against 67 s for seed 1 alone) are not clean. The 60-min "
        "run (`bench/fmnist_quality --minutes 60 dcacn-60min`) gives the contrastive stage 57 min; "
        "garment-neighbours is the garment views' run with the same stage (27 + stage)",
        "- milestone 3 rows (`bench/fmnist_quality [--seed N] pipeline`): the preset as the README "
        "runs it, `--time-budget 30` for the whole run (its stages, evaluations and final "
        "scoring). `pipeline-scan` is its first version (four stages: stage 4 in the curves is "
        "scan, stage 3 the neighbour stages; now `bench/fmnist_quality pipeline-scan`), "
        "`pipeline` the second (contrastive, then the neighbour stage). They ran on an "
        "AMD EPYC (2 cores, quiet), the milestone 2 rows (neighbour stage, garment views, "
        "self-labelling) on an Intel Xeon (0.55-0.63 contrastive steps/s against 0.71-0.73 here): "
        "compare steps as well as "
        "minutes across the two",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine of the runs found at this rebuild: {cpu}, {os.cpu_count()} cores (rows "
        "finished before 2026-11-30 10:00 ran on an AMD EPYC, rows from then until 2026-12-02 on "
        "an Intel Xeon, rows from then until 2026-12-05 on an AMD EPYC, all 2 cores; rows since "
        "name their machine: '(on CPU)')",
        "- data: all 70,000 Fashion-MNIST images (train + test), labels used only for scoring",
        "",
        "| run | views, learning rate | budget | ACC | NMI | ARI | "
        "k-means on features ACC / NMI / ARI | steps | training images/s | finished (UTC) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    present = {r[0] for r in rows}
    kept_rows, kept_curves = earlier_sections(present)
    for name, setting, budget, head, km, steps, rate, background, finished in rows:
        kmtext = (f"{km['acc']:.4f} / {km['nmi']:.4f} / {km['ari']:.4f}" if km else "-")
        if background:
            budget += " *"
        ratetext = f"({rate:.0f})" if background else f"{rate:.0f}"
        lines.append(f"| {name} | {setting} | {budget} | {head['acc']:.4f} | "
                     f"{head['nmi']:.4f} | {head['ari']:.4f} | {kmtext} | {steps} | {ratetext} | "
                     f"{finished} |")
    lines += kept_rows
    # The tables over runs keep the rows of earlier sittings whose runs are gone.
    present = {label(v, s, os.path.join(work, n)) for n, v, s in found} | {"raw pixels"}
    for heading, table in (("## Over seeds", seeds_table(work, found)),
                           ("## Ablation at equal time", ablation_table(work, found)),
                           ("## What the representation knows", probe_table(work, found))):
        old = old_table_rows(heading)
        section = merged(table, heading, old, present)
        if not section and old:
            section = old_section(heading)
        lines += section
    curved = ("pipeline-progressive", "pipeline-resnet18", "pipeline-nviews", "pipeline-nviews-features", "pipeline-nviews-own", "pipeline-nviews-own-60min", "pipeline-nviews-remine", "pipeline-nviews-cosine", "pipeline-whitened", "pipeline", "pipeline-scan", "dcacn", "dcacn-60min", "no-neighbours", "feature-neighbours", "garment-neighbours", "python-reference", "earlier-preset", "tune-4local", "long-lr-1e-3-seed1",
              "garment-views", "selflabel", "garment-selflabel")
    for name, variant, seed in found:
        curve = os.path.join(work, name, "metrics.csv")
        if variant not in curved or not os.path.exists(curve):
            continue
        lines += ["", f"## Learning curve: {label(variant, seed, os.path.join(work, name))}", "",
                  "| epoch | step | minutes | stage | loss | ACC | NMI | ARI | pseudo-labelled | "
                  "pseudo-label ACC | images/s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in csv.DictReader(open(curve)):
            lines.append(f"| {r['epoch']} | {r['step']} | {float(r['wall_seconds']) / 60:.1f} | "
                         f"{r.get('stage') or 1} | {r['loss']} | {r['acc']} | {r['nmi']} | "
                         f"{r['ari']} | {r.get('pseudo_labelled') or '-'} | "
                         f"{r.get('pseudo_acc') or '-'} | {r['images_per_second']} |")
    for section in kept_curves:
        while section and section[-1] == "":
            section.pop()
        lines += [""] + section
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {RESULTS} ({len(rows)} runs)")


if __name__ == "__main__":
    main()
