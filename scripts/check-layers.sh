#!/usr/bin/env bash
# Checks the library's layering: a module may include headers of its own layer or the layers
# below it, never of one above. Layers, bottom up:
#   0 util
#   1 data metrics io model augment dist curate  (independent components)
#   2 run cluster                              (configuration, set-up, checkpoint format; k-means)
#   3 infer                                    (using a trained model)
#   4 train report serve                       (training; figures of a run; the review page)
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A level=([util]=0 [data]=1 [metrics]=1 [io]=1 [model]=1 [augment]=1 [dist]=1 [curate]=1
                  [run]=2 [cluster]=2 [infer]=3 [train]=4 [report]=4 [serve]=4)
status=0
for dir in src/dcacn/*/; do
  module=$(basename "$dir")
  [[ -n "${level[$module]:-}" ]] || { echo "unknown module $module: give it a layer"; exit 1; }
  while IFS=: read -r file used; do
    if [[ "$used" != "$module" && ${level[$used]} -ge ${level[$module]} ]]; then
      echo "$file includes dcacn/$used/ (layer ${level[$used]}) from layer ${level[$module]}"
      status=1
    fi
  done < <(grep -o '#include "dcacn/[a-z_]*/' "$dir"* | sed 's|#include "dcacn/||;s|/$||')
done
exit $status
