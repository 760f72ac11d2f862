"""The report of bench/time_to_accuracy: appends a section to
bench/results/time_to_accuracy.md from the runs in WORK.

  /usr/bin/python3 bench/py/time_to_accuracy_report.py WORK CMDLINE

Covers every run in WORK (IMPL-Mmin folders, with IMPL-Mmin.wall and .build beside them).
"""
import csv
import datetime
import json
import os
import subprocess
import sys

THRESHOLDS = (0.60, 0.65, 0.70)
NAMES = {"dcacn": "dcacn `fmnist-cpu`", "python": "Python PyTorch reference"}


def final_scores(run):
    final = json.load(open(os.path.join(run, "final.json")))
    head = final.get("cluster_head", final)
    return {k: float(head[k]) for k in ("acc", "nmi", "ari")}


def network(run, impl):
    """ResNet-D + CBAM at width W, from dcacn's config.json or the reference's final.json."""
    if impl == "dcacn":
        c = json.load(open(os.path.join(run, "config.json")))
        depth, width, attention = c.get("depth"), c.get("width"), c.get("attention", "cbam")
    else:
        c = json.load(open(os.path.join(run, "final.json"))).get("settings", {})
        depth, width, attention = c.get("depth", 34), c.get("width", 16), "cbam"
    return f"ResNet-{depth}{' + CBAM' if attention == 'cbam' else ''}, width {width}"


def curve(run):
    """(seconds, acc, images scored) of every metrics row."""
    rows = list(csv.DictReader(open(os.path.join(run, "metrics.csv"))))
    return [(float(r["wall_seconds"]), float(r["acc"]), r.get("eval_images") or "all")
            for r in rows]


def main():
    work, cmdline = sys.argv[1], sys.argv[2]
    cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines()
        if l.startswith("Model name:")), "unknown CPU")
    runs, builds = {}, set()
    for entry in sorted(os.listdir(work)):
        impl, _, budget = entry.partition("-")
        if impl in NAMES and budget.endswith("min") and os.path.isdir(os.path.join(work, entry)):
            m = float(budget[:-3])
            run = os.path.join(work, entry)
            if os.path.exists(os.path.join(run, "final.json")) and os.path.exists(run + ".wall"):
                if os.path.exists(run + ".build"):
                    builds.add(open(run + ".build").read().strip())
                final = json.load(open(os.path.join(run, "final.json")))
                runs[impl, m] = {"network": network(run, impl),
                                 "wall": float(open(run + ".wall").read()) / 60,
                                 "scores": final_scores(run), "curve": curve(run),
                                 # dcacn's final.json says "step", the reference's "steps"
                                 "steps": final.get("step", final.get("steps"))}
    lines = ["", f"## {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC: `{cmdline}`", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, nothing else running. Build "
             f"{', '.join(sorted(builds)) or 'unrecorded'}. Wall: the whole command (loading, every stage, "
             "evaluations, final scoring). ACC / NMI / ARI: the run's final clustering of all "
             "70,000 images.", "",
             "| implementation | network | budget | wall | steps | ACC | NMI | ARI |",
             "|---|---|---|---|---|---|---|---|"]
    for (impl, m), r in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        s = r["scores"]
        lines.append(f"| {NAMES[impl]} | {r['network']} | {m:g} min | {r['wall']:.2f} min | "
                     f"{r['steps']} | {s['acc']:.4f} | {s['nmi']:.4f} | {s['ari']:.4f} |")
    lines += ["", "Minutes to ACC X: the wall time of the smallest budget whose final clustering "
              "reaches X ('> W': no budget run reached it, W the longest wall). In brackets: the "
              "first curve point at X or more in any run (minutes on the run's clock; a "
              "subsample of 5,000 images, or all images at a stage's end).", "",
              "| ACC | dcacn | Python reference | ratio (Python / dcacn) |", "|---|---|---|---|"]
    for x in THRESHOLDS:
        cells, minutes = [], {}
        for impl in NAMES:
            mine = sorted((m, r) for (i, m), r in runs.items() if i == impl)
            if not mine:
                cells.append("-")
                continue
            reached = [r for _, r in mine if r["scores"]["acc"] >= x]
            points = [t / 60 for _, r in mine for t, a, _ in r["curve"] if a >= x]
            early = f" ({min(points):.1f})" if points else ""
            if reached:
                minutes[impl] = (reached[0]["wall"], True)
                cells.append(f"{reached[0]['wall']:.2f}{early}")
            else:
                longest = max(r["wall"] for _, r in mine)
                minutes[impl] = (longest, False)
                cells.append(f"> {longest:.2f}{early}")
        if len(minutes) == 2:
            (py, py_ok), (cc, cc_ok) = minutes["python"], minutes["dcacn"]
            if cc_ok and py_ok:
                ratio = f"{py / cc:.2f}"
            elif cc_ok:
                ratio = f"> {py / cc:.2f}"
            elif py_ok:
                ratio = f"< {py / cc:.2f}"
            else:
                ratio = "-"
        else:
            ratio = "-"
        lines.append(f"| {x:.2f} | " + " | ".join(cells) + f" | {ratio} |")
    out = os.path.join("bench", "results", "time_to_accuracy.md")
    if not os.path.exists(out):
        with open(out, "w") as f:
            f.write("# Time to accuracy (`bench/time_to_accuracy`)\n\nMinutes to ACC 0.60 / 0.65 / "
                    "0.70 on all 70,000 Fashion-MNIST images for dcacn's CPU preset and for the "
                    "Python PyTorch reference of the same recipe "
                    "(bench/reference/train_reference.py), one after the other on a quiet "
                    "machine.\n")
    with open(out, "a") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
