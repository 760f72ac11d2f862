#!/usr/bin/python3
"""Driver of bench/augment_throughput: runs both pipelines, writes the results file."""
import datetime
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "bench", "results", "augment_throughput.md")
CPP = os.path.join(ROOT, "build", "dcacn_bench_augment_throughput")


def run(cmd):
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True,
                                     cwd=ROOT).stdout)


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else "bench/augment_throughput"
    cifar = run([CPP, "--dataset", "cifar10", "--image-size", "32", "--channels", "3"])
    fmnist = run([CPP, "--dataset", "fashion-mnist", "--image-size", "28", "--channels", "1"])
    tv = run(["/usr/bin/python3", os.path.join(ROOT, "bench", "py", "augment_throughput.py")])
    best_tv = max(tv["views_per_s_in_process"], tv["views_per_s_workers"])
    cpu = subprocess.run("lscpu | sed -n 's/^Model name: *//p'", shell=True,
                         capture_output=True, text=True).stdout.strip()
    lines = [
        "# Multi-crop augmentation throughput",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {cpu}, {os.cpu_count()} cores",
        "- work: batches of 256 random 32x32 RGB images, each turned into 2 global views "
        "(32 px, scale 0.2-1) and 4 local views (16 px, scale 0.05-0.5) with flip, colour "
        "jitter (p 0.8, s 0.5), grayscale (p 0.2) and, for local views, Gaussian blur (p 0.5).",
        f"- dcacn: batched tensor operations on the whole batch (`bench/cpp/augment_throughput.cpp`,"
        f" {cifar['threads']} threads); torchvision {tv['torchvision']}: per-image PIL "
        "transforms (`bench/py/augment_throughput.py`), in the main process and with a "
        f"DataLoader of {tv['workers']} worker processes.",
        "",
        "| pipeline | views/s | dcacn / this |",
        "|---|---|---|",
        f"| dcacn, batched tensors | {cifar['views_per_s']:,.0f} | 1.0 |",
        f"| torchvision + PIL, main process | {tv['views_per_s_in_process']:,.0f} | "
        f"{cifar['views_per_s'] / tv['views_per_s_in_process']:.1f}x |",
        f"| torchvision + PIL, DataLoader with {tv['workers']} workers | "
        f"{tv['views_per_s_workers']:,.0f} | {cifar['views_per_s'] / tv['views_per_s_workers']:.1f}x |",
        "",
        f"**dcacn produces {cifar['views_per_s'] / best_tv:.1f}x the views per second of the "
        "faster torchvision setting.**",
        "",
        "## Share of a training step (CPU preset network: ResNet-34 + CBAM, width 16)",
        "",
        "One step = augmenting a batch of 256 images into all its views, then forward and "
        "backward of every view (bf16 autocast, channels-last, as the preset trains) and an "
        "Adam update.",
        "",
        "| data | views | augmentation s/batch | training step s (model) | augmentation share |",
        "|---|---|---|---|---|",
    ]
    for name, r in [("CIFAR-like 32 px RGB", cifar), ("Fashion-MNIST 28 px gray", fmnist)]:
        lines.append(f"| {name} | {r['views']} | {r['augment_seconds_per_batch']:.3f} | "
                     f"{r['train_step_seconds']:.2f} | {r['augment_share_of_step']:.1%} |")
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
