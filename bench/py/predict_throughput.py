#!/usr/bin/python3
"""Driver of bench/predict_throughput: writes the 10,000 PNGs once, times `dcacn predict` on
them and writes bench/results/predict_throughput.md."""
import csv
import datetime
import os
import re
import statistics
import subprocess
import sys

from PIL import Image

from fmnist import load_fmnist_split  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "bench", "results", "predict_throughput.md")
CLASSES = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
           "bag", "ankle_boot"]


def write_pngs(folder):
    done = os.path.join(folder, ".complete")
    if os.path.exists(done):
        return
    images, labels = load_fmnist_split("t10k")
    for i, (img, label) in enumerate(zip(images, labels)):
        sub = os.path.join(folder, CLASSES[label])
        os.makedirs(sub, exist_ok=True)
        Image.fromarray(img, mode="L").save(os.path.join(sub, f"{i:05d}.png"))
    open(done, "w").close()


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def main():
    run, work, repeats, command = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    folder = os.path.join(work, "images")
    write_pngs(folder)
    out_csv = os.path.join(work, "predictions.csv")
    runs = []
    for i in range(repeats):
        proc = subprocess.run(["/usr/bin/time", "-f", "TIME %e %U %S %M",
                               os.path.join(ROOT, "build", "dcacn"), "predict", "--checkpoint",
                               run, "--images", folder, "--out", out_csv],
                              capture_output=True, text=True, check=True, cwd=ROOT)
        log = proc.stderr
        wall, user, system, rss = [float(v) for v in
                                   [l for l in log.splitlines() if l.startswith("TIME ")][-1].split()[1:]]
        m = re.search(r"(\d+) images: reading ([\d.e+-]+) s, network ([\d.e+-]+) s, (\d+) images/s", log)
        images, read_s, net_s = int(m.group(1)), float(m.group(2)), float(m.group(3))
        runs.append({"images": images, "read": read_s, "network": net_s, "wall": wall,
                     "cpu": (user + system) / wall, "rss": rss / 1024})
        print(f"run {i + 1}/{repeats}: {images} images, read {read_s:.2f} s, network {net_s:.2f} s,"
              f" process {wall:.2f} s", flush=True)
    # Sanity: the clusters of the PNG round trip agree with the class folders as well as the
    # run's own evaluation does (majority vote per cluster, computed from the CSV).
    rows = list(csv.DictReader(open(out_csv)))
    by_cluster = {}
    for r in rows:
        cls = os.path.basename(os.path.dirname(r["path"]))
        by_cluster.setdefault(r["cluster"], {}).setdefault(cls, 0)
        by_cluster[r["cluster"]][cls] += 1
    majority = sum(max(c.values()) for c in by_cluster.values()) / len(rows)

    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    n = runs[0]["images"]
    cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
    lines = [
        "# dcacn predict throughput: 10,000 PNG files",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {cpu}, {os.cpu_count()} cores",
        f"- model: `{os.path.relpath(run, ROOT)}` (fmnist-cpu: ResNet-34 + CBAM, width 16, bf16, 28 px)",
        f"- input: the Fashion-MNIST test set written as {n:,} grayscale 28x28 PNG files in 10 "
        "class folders, searched recursively",
        f"- {repeats} runs, medians; the CSV is written each time",
        "",
        "| what | value |",
        "|---|---|",
        f"| images/s, reading + network (predict's own timing) | **{n / (med('read') + med('network')):.0f}** |",
        f"| images/s, whole process (model loading and CSV included) | {n / med('wall'):.0f} |",
        f"| decoding and resizing {n:,} files | {med('read'):.2f} s ({n / med('read'):.0f} images/s) |",
        f"| network (forward passes) | {med('network'):.2f} s ({n / med('network'):.0f} images/s) |",
        f"| whole process | {med('wall'):.2f} s |",
        f"| CPU use, (user + system) / wall | {med('cpu') * 100:.0f}% of one core |",
        f"| peak resident memory | {max(r['rss'] for r in runs):.0f} MiB |",
        f"| majority-vote agreement of the clusters with the class folders | {majority:.4f} |",
        "",
        "Runs: " + "; ".join(f"read {r['read']:.2f} s, network {r['network']:.2f} s, "
                             f"process {r['wall']:.2f} s" for r in runs),
    ]
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
