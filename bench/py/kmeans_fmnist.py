#!/usr/bin/python3
"""Driver of bench/kmeans_fmnist: runs both sides, writes bench/results/kmeans_fmnist.md."""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "bench", "py")
RESULTS = os.path.join(ROOT, "bench", "results", "kmeans_fmnist.md")
DCACN = [os.path.join(ROOT, "build", "dcacn"), "kmeans", "--dataset", "fashion-mnist",
         "--k", "10", "--n-init", "10", "--seed", "0", "--json", "--quiet"]
SKLEARN = ["/usr/bin/python3", os.path.join(HERE, "sklearn_kmeans.py"), "0"]


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (parsed JSON stdout, wall s, peak RSS MiB)."""
    proc = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + cmd, capture_output=True,
                          text=True, check=True, cwd=ROOT)
    line = [l for l in proc.stderr.splitlines() if l.startswith("TIME ")][-1]
    _, wall, rss_kb = line.split()
    return json.loads(proc.stdout), float(wall), int(rss_kb) / 1024


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


def main():
    repeats = int(sys.argv[1])
    command = sys.argv[2] if len(sys.argv) > 2 else "bench/kmeans_fmnist"
    ours, theirs = [], []
    for i in range(repeats):  # interleaved, so both sides see the same machine state
        ours.append(timed(DCACN))
        theirs.append(timed(SKLEARN))
        print(f"run {i + 1}/{repeats}: dcacn {ours[-1][1]:.2f} s whole process, "
              f"scikit-learn fit {theirs[-1][0]['fit_seconds']:.2f} s", flush=True)
    startup = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([DCACN[0], "--version"], capture_output=True, check=True)
        startup.append(time.perf_counter() - t)
    startup_s = min(startup)
    limits = json.loads(subprocess.run(["/usr/bin/python3", os.path.join(HERE,
                                        "machine_limits.py")], capture_output=True, text=True,
                                       check=True).stdout)

    our_wall = statistics.median(w for _, w, _ in ours)
    our_rss = max(r for _, _, r in ours)
    sk_fit = statistics.median(j["fit_seconds"] for j, _, _ in theirs)
    sk_wall = statistics.median(w for _, w, _ in theirs)
    sk_rss = max(r for _, _, r in theirs)
    o, s = ours[0][0], theirs[0][0]
    ratio = sk_fit / our_wall

    n, d, k = 70000, 784, 10
    pass_bytes = n * d * 4
    pass_flops = 2 * n * d * k
    iters = sum(r["iterations"] for r in o["restarts"])
    passes = sum(r["distance_passes"] for r in o["restarts"])
    trials = 2 + 2  # 2 + int(log(10))
    seeding_flops = 9 * 2 * n * d * trials * 10 + 2 * n * d * 10

    cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
    torch_version = sh("dpkg-query -W -f='${Version}' libtorch-dev")
    openblas_version = sh("dpkg-query -W -f='${Version}' libopenblas0-openmp")
    os_name = sh(". /etc/os-release; echo $PRETTY_NAME")
    blas = "; ".join(s["blas"])
    our_runs = ", ".join(f"{w:.2f}" for _, w, _ in ours)
    sk_runs = ", ".join(f"{j['fit_seconds']:.2f}" for j, _, _ in theirs)
    run_iters = ", ".join(str(r["iterations"]) for r in o["restarts"])
    run_passes = ", ".join(f"{r['distance_passes']:.1f}" for r in o["restarts"])
    lines = [
        "# k-means on Fashion-MNIST: dcacn vs scikit-learn",
        "",
        f"- command: `{command}` ({repeats} interleaved runs of each side, median reported)",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {cpu}, {os.cpu_count()} cores, "
        f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, "
        f"{os_name}, kernel {platform.release()}",
        f"- software: LibTorch {torch_version}, OpenBLAS {openblas_version} (OpenMP), "
        f"scikit-learn {s['sklearn']}, numpy {s['numpy']}; scikit-learn's BLAS: {blas}",
        "- data: 70,000 images (train + test), 784 pixels scaled to [0, 1], float32 on both sides;"
        " K = 10, n_init = 10, max_iter = 300, tol = 1e-4 (scikit-learn's defaults), seed 0",
        "",
        "| | time (s) | peak RSS (MiB) | ACC | NMI | ARI | inertia |",
        "|---|---|---|---|---|---|---|",
        f"| dcacn kmeans, whole process (start-up, gunzip, fit, scoring) | {our_wall:.2f} | "
        f"{our_rss:.0f} | {o['acc']:.4f} | {o['nmi']:.4f} | {o['ari']:.4f} | {o['inertia']:.6g} |",
        f"| scikit-learn `KMeans.fit` alone | {sk_fit:.2f} | {sk_rss:.0f} (process) | "
        f"{s['acc']:.4f} | {s['nmi']:.4f} | {s['ari']:.4f} | {s['inertia']:.6g} |",
        f"| scikit-learn, whole process | {sk_wall:.2f} | | | | | |",
        "",
        f"**Speed-up: {ratio:.1f}x** (scikit-learn's fit alone / dcacn's whole process). "
        f"All runs, dcacn whole process: {our_runs} s; scikit-learn fit: {sk_runs} s.",
        "",
        "## Where the time goes",
        "",
        f"Measured in the same run (LibTorch, {limits['threads']} threads): copying the "
        f"{pass_bytes / 1e6:.0f} MB data matrix runs at {limits['copy_gbytes_per_s']:.1f} GB/s "
        f"(read + write); one distance pass `[70000, 784] x [784, 10]` "
        f"({pass_flops / 1e9:.2f} GFLOP) takes {limits['thin_gemm_ms']:.0f} ms "
        f"= {limits['thin_gemm_gflops']:.0f} GFLOP/s, against "
        f"{limits['square_gemm_gflops']:.0f} GFLOP/s for a square product: with only 10 "
        "centres the pass is bound by reading and packing the data, not by arithmetic.",
        "",
        f"- A plain Lloyd iteration (scikit-learn) reads all {pass_bytes / 1e6:.0f} MB of the data "
        f"and does {pass_flops / 1e9:.2f} GFLOP of distances, then again N x D additions for the "
        f"centre sums. scikit-learn's best restart ran {s['n_iter_best_restart']} iterations; "
        f"ours ran {run_iters} iterations "
        f"({iters} in all) over the 10 restarts, so plain Lloyd would make about {iters} passes "
        f"(~{iters * pass_bytes / 1e9:.0f} GB read, ~{iters * pass_flops / 1e9:.0f} GFLOP of distances).",
        f"- dcacn computes distances only for rows whose bounds allow a change (Elkan's "
        f"per-centre lower bounds): {passes:.0f} passes' worth of rows in all "
        f"({run_passes} per restart), "
        f"i.e. {passes / iters:.2f} of a pass per iteration; centre sums are updated only with "
        "the rows that changed cluster. Those rows are gathered (one copy) and multiplied "
        "(OpenBLAS packs them: a second copy); `perf` shows the gather, the packing and the "
        "multiply kernel in roughly equal shares.",
        f"- k-means++ seeding of all 10 restarts runs as 9 batched products with "
        f"{trials * 10} candidates each (~{seeding_flops / 1e9:.0f} GFLOP): "
        f"{o['seeding_seconds']:.2f} s.",
        f"- The 10 restarts run two at a time, one per core, each single-threaded: "
        f"{o['fit_seconds']:.2f} s for seeding + Lloyd. Loading (gunzip of 26 MB, 55 MB "
        f"decoded) took {o['load_seconds']:.2f} s; the rest of the "
        f"{our_wall:.2f} s is process start-up ({startup_s:.2f} s for `dcacn --version`, "
        "mostly loading LibTorch), the uint8 to float conversion and scoring.",
        "",
        "Both sides pick the best of 10 restarts by inertia with their own random streams, so "
        "the partitions differ slightly; both land at ACC ~0.47 / NMI ~0.51.",
    ]
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}: dcacn {our_wall:.2f} s vs scikit-learn fit {sk_fit:.2f} s "
          f"({ratio:.1f}x)")


if __name__ == "__main__":
    main()
