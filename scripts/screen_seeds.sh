#!/usr/bin/env bash
# Train one screening round's seeds on one fold of the shipped recipe, side
# by side, with the validation instrument every round since the thirteenth
# has used (a quarter of the training speakers held out per corpus):
#
#   scripts/screen_seeds.sh FOLD RUN_PREFIX [--set KEY=VALUE ...]   (EMOEDGE_DATA must be set)
#
# Seeds 0 1 2 unless EMOEDGE_SEEDS says otherwise (e.g. "0"); the recipe is
# recipes/default_model.toml unless EMOEDGE_RECIPE names another, whose
# [data] fold_groups FOLD (1-based) indexes. The run is that fold alone, split
# by fold groups whatever split the recipe ships with.
#
# Seed S trains into RUN_PREFIX_sS (the layout scripts/seed_cards.sh scores);
# its log is RUN_PREFIX_sS.log. A run that was cut off resumes from its last
# whole epoch; a finished one is left alone. With no --set, the run is the
# control. Waits for all seeds and fails if any failed.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: screen_seeds.sh FOLD RUN_PREFIX [--set KEY=VALUE ...]"
fold=${1:?$usage}
prefix=${2:?$usage}
overrides=("${@:3}")
seeds=(${EMOEDGE_SEEDS:-0 1 2})
recipe=${EMOEDGE_RECIPE:-$repo/recipes/default_model.toml}
: "${EMOEDGE_DATA:?set EMOEDGE_DATA to the corpora root}"
export EMOEDGE_CACHE=${EMOEDGE_CACHE:-/tmp/emoedge-cache}

group=$(python - "$recipe" "$fold" <<'EOF'
import json, sys, tomllib
with open(sys.argv[1], "rb") as f:
    groups = tomllib.load(f)["data"].get("fold_groups", [])
k = int(sys.argv[2])
if not 1 <= k <= len(groups):
    sys.exit(f"fold {k} is not one of the recipe's 1-{len(groups)}")
print(json.dumps(groups[k - 1]))
EOF
)

train_seed() {  # S
    local run=${prefix}_s$1
    if [ -f "$run/report.md" ]; then echo "seed $1: finished before, left alone"; return 0; fi
    local resume=()
    [ -f "$run/run.json" ] && resume=(--resume)  # the same recipe and --set options, as resume asks
    emoedge train "$recipe" --data "$EMOEDGE_DATA" -o "$run" --no-export -q "${resume[@]}" \
        --set data.split=kfold --set data.val_fraction=0.25 --set data.val_by_corpus=true \
        --set "data.fold_groups=[$group]" --set "training.seeds=[$1]" "${overrides[@]}"
}

pids=()
for s in "${seeds[@]}"; do
    echo "$(date -u +%FT%TZ) seed $s: training into ${prefix}_s$s"
    train_seed "$s" > "${prefix}_s$s.log" 2>&1 &
    pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "seed ${seeds[$i]} failed: see ${prefix}_s${seeds[$i]}.log" >&2
        failed=1
    fi
done
echo "$(date -u +%FT%TZ) done"
exit $failed
