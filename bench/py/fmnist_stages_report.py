"""Rebuilds bench/results/fmnist_stages.md from the finished branches of bench/fmnist_stages:
per branch, the scores after each stage (the last metrics row of each stage), its step and the
run time at that row."""
import csv
import datetime
import json
import os
import platform
import subprocess
import sys

KINDS = {"1": "contrastive", "2": "selflabel", "3": "neighbours", "4": "scan"}


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def stage_ends(path):
    """The last row of each stage, as (name, row); a guard's row (a second row at the stage's
    last step) comes after its stage's own."""
    rows = list(csv.DictReader(open(path)))
    ends = []
    for i, r in enumerate(rows):
        last = i + 1 == len(rows) or rows[i + 1]["stage"] != r["stage"]
        if not last:
            continue
        name = KINDS.get(r["stage"], r["stage"])
        before = rows[i - 1] if i > 0 else None
        if before is not None and before["stage"] == r["stage"] and before["step"] == r["step"]:
            ends.append((name, before))
            name += ", undone by its guard"
        ends.append((name, r))
    return ends


def main(work, cmdline):
    lines = ["# Fashion-MNIST: what each stage adds at equal steps", "",
             f"Command: `{cmdline}`  ", f"Date: {datetime.date.today()}  ",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores  ",
             "Each branch resumes a copy of the same contrastive run (`base`) with its stages "
             "appended; ACC/NMI/ARI are the metrics rows at the end of each stage (labels used "
             "for scoring only). Seconds are the run's clock at that row (the base's included). "
             "Branches run in separate sittings; those that recorded it name their build.",
             ""]
    names = sorted(d for d in os.listdir(work)
                   if os.path.isfile(os.path.join(work, d, "finished")))
    for name in ["base"] + [n for n in names if n != "base"]:
        metrics = os.path.join(work, name, "metrics.csv")
        if not os.path.isfile(metrics):
            continue
        stages = open(os.path.join(work, name, "stages")).read().strip() if os.path.isfile(
            os.path.join(work, name, "stages")) else ""
        build_file = os.path.join(work, name, "build")
        build = open(build_file).read().strip() if os.path.isfile(build_file) else ""
        lines += [f"## {name}", "", f"`--stages {stages}`" if stages else "",
                  f"(build {build})" if build else "", "",
                  "| after | step | seconds | ACC | NMI | ARI | pseudo-labelled | pseudo ACC |",
                  "|---|---|---|---|---|---|---|---|"]
        for stage, r in stage_ends(metrics):
            lines.append("| {} | {} | {:.0f} | {} | {} | {} | {} | {} |".format(
                stage, r["step"], float(r["wall_seconds"]),
                r["acc"], r["nmi"], r["ari"], r.get("pseudo_labelled", ""),
                r.get("pseudo_acc", "")))
        final = json.load(open(os.path.join(work, name, "final.json")))
        km = final.get("kmeans_on_features", {})
        if km:
            lines.append("")
            lines.append("k-means on the final backbone features: ACC {:.4f}".format(
                km.get("acc", float("nan"))))
        lines.append("")
    out = os.path.join(os.path.dirname(__file__), "..", "results", "fmnist_stages.md")
    seed_dir = os.path.basename(os.path.normpath(work))
    if seed_dir.startswith("seed") and seed_dir != "seed0":
        out = out.replace(".md", f"-{seed_dir}.md")
    open(out, "w").write("\n".join(lines) + "\n")
    print(open(out).read())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
