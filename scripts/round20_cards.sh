#!/usr/bin/env bash
# The twentieth round's cards (docs/DEFAULT_MODEL.md, "The twentieth round"),
# written once its six fold-1 runs have finished:
#   RUNS/r20_control_f1_sS   the shipped recipe, trained with --keep-epoch-weights
#   RUNS/r20_mixup_f1_sS     the same with --set training.mixup_alpha=0.2
#
#   scripts/round20_cards.sh [RUNS_DIR [SEED ...]]   (default /tmp/runs, seeds 0 1 2;
#                                                    EMOEDGE_DATA must be set)
#
# Part A scores each run's float model on fold 1's validation speakers.
# Part B first checks that the kept epochs, averaged at the recipe's own 0.9
# up to the chosen epoch, give back each control's saved model exactly; then
# it writes copies of each control run holding the average after the last
# epoch (as a refit ships) at 0.9, at the candidate 0.95, and at the
# diagnostics 0.8, 0.97 and the plain mean of the last 20 epochs, and scores
# them the same way, and the same averages again with their BatchNorm
# statistics recomputed (diagnostics). Cards are gzipped into docs/runs/val_by_corpus/cards/.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-/tmp/runs}
seeds=("${@:2}")
[ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
cards=$repo/docs/runs/val_by_corpus/cards
: "${EMOEDGE_DATA:?set EMOEDGE_DATA to the corpora root}"
export EMOEDGE_CACHE=${EMOEDGE_CACHE:-/tmp/emoedge-cache}
if grep -qw avx512f /proc/cpuinfo; then machine=avx512; else machine=avx2; fi

card() {  # RUN SEED NAME: score RUN's float model of SEED, keep the card as NAME
    local out=$runs/r20_card_$3_s$2
    [ -f "$out/card.json" ] || emoedge evaluate "$1" --data "$EMOEDGE_DATA" -q \
        --held-out val --seed "$2" --card "$out" > /dev/null
    gzip -nc "$out/card.json" > "$cards/$3_fold1_seed$2_${machine}.card.json.gz"
}

same_weights() {  # RUN_A RUN_B: every fold model of A equals B's, array for array
    python - "$1" "$2" <<'EOF'
import json, pathlib, sys
import numpy as np
from emoedge.train.trainer import load_fold_model

def arrays(run, fold):
    return load_fold_model(run / fold)[1].get_weights()

a, b = map(pathlib.Path, sys.argv[1:3])
for fold in json.loads((a / "run.json").read_text())["folds"]:
    name = fold["directory"]
    if not all(np.array_equal(x, y) for x, y in zip(arrays(a, name), arrays(b, name), strict=True)):
        sys.exit(f"{b / name}: not the weights of {a / name}")
print(f"{b}: the same weights as {a}")
EOF
}

for s in "${seeds[@]}"; do
    control=$runs/r20_control_f1_s$s
    card "$control" $s float_control
    card "$runs/r20_mixup_f1_s$s" $s mixup
    check=$runs/r20_reavg_best0.9_s$s
    [ -d "$check" ] || python -m emoedge.train.reaverage "$control" "$check" --decay 0.9 --epoch best
    same_weights "$control" "$check"
    for decay in 0.9 0.95 0.8 0.97; do
        copy=$runs/r20_reavg_last${decay}_s$s
        [ -d "$copy" ] || python -m emoedge.train.reaverage "$control" "$copy" --decay $decay
        card "$copy" $s "averaged_last_decay${decay/./}"
    done
    copy=$runs/r20_reavg_mean20_s$s
    [ -d "$copy" ] || python -m emoedge.train.reaverage "$control" "$copy" --mean-of-last 20
    card "$copy" $s averaged_mean_of_last20
    # diagnostics added after seed 0's cards: the same averages with their
    # BatchNorm statistics set again over the last epoch's training batches
    for decay in 0.9 0.95 0.97; do
        copy=$runs/r20_reavg_bn_last${decay}_s$s
        [ -d "$copy" ] || python -m emoedge.train.reaverage "$control" "$copy" --decay $decay \
            --recompute-batch-norm
        card "$copy" $s "averaged_bn_last_decay${decay/./}"
    done
    copy=$runs/r20_reavg_bn_lastmean20_s$s
    [ -d "$copy" ] || python -m emoedge.train.reaverage "$control" "$copy" --mean-of-last 20 \
        --recompute-batch-norm
    card "$copy" $s averaged_bn_mean_of_last20
done
