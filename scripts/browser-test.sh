#!/usr/bin/env bash
# The review page of `dcacn serve` in a real browser (Debian's headless Chromium driven by
# puppeteer-core, tests/browser/serve.test.mjs): a small run trained on Fashion-MNIST's test
# images, its page edited (rename, merge, split, move, undo), exported through the page's link,
# and that export compared with `dcacn export`'s.
#   scripts/browser-test.sh [OUT_DIR]   screenshot, log and CSVs in OUT_DIR (default: a
#                                       temporary folder, removed afterwards)
#   DCACN_RUN=RUN scripts/browser-test.sh OUT_DIR   the page of an existing run (a copy of it)
# Needs the dcacn program ($DCACN, default build/dcacn: scripts/build.sh), chromium and npm
# (scripts/install-deps.sh). ctest runs it as the test "browser_serve".
set -euo pipefail
cd "$(dirname "$0")/.."
dcacn=${DCACN:-build/dcacn}
work=$(mktemp -d)
out=${1:-$work/out}
mkdir -p "$out"
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
if [[ -n "${DCACN_RUN:-}" ]]; then
  # An existing run, copied so that its own curation.json is neither used nor changed.
  mkdir -p "$work/run"
  cp -r "$DCACN_RUN"/config.json "$DCACN_RUN"/checkpoints "$work/run/"
  [[ -d "$DCACN_RUN/report" ]] && cp -r "$DCACN_RUN/report" "$work/run/"
else
  "$dcacn" train --dataset fashion-mnist --split test --arch resnet18 --width 8 --clusters 10 \
    --batch-size 128 --views 2x16@0.5-1,2x8@0.2-0.5 --max-steps 40 --device cpu --quiet \
    --out "$work/run" >/dev/null
  "$dcacn" report "$work/run" --tsne-samples 300 --tsne-iterations 250 --quiet >/dev/null
fi

"$dcacn" serve "$work/run" --port 0 --quiet >"$work/serve.log" 2>&1 &
server=$!
url=""
for _ in $(seq 1 600); do
  url=$(grep -o 'http://[^ ]*' "$work/serve.log" || true)
  [[ -n "$url" ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { echo "dcacn serve did not start"; cat "$work/serve.log"; exit 1; }

status=0
node tests/browser/serve.test.mjs "$url" "$out" 2>&1 | tee "$out/serve_browser.log" || status=1
"$dcacn" export "$work/run" --csv "$out/export_cli.csv" --quiet
if cmp -s "$out/curated.csv" "$out/export_cli.csv"; then
  echo "ok   the page's export equals dcacn export's ($(wc -l <"$out/export_cli.csv") lines)" |
    tee -a "$out/serve_browser.log"
else
  echo "FAIL the page's export differs from dcacn export's" | tee -a "$out/serve_browser.log"
  diff "$out/curated.csv" "$out/export_cli.csv" | head -5 || true
  status=1
fi
exit $status
