#!/usr/bin/env bash
# Score a round's runs of one fold, one run per seed, as float cards of the
# fold's validation speakers, and keep them beside the other rounds' cards:
#
#   scripts/seed_cards.sh NAME FOLD RUN_PREFIX [SEED ...]   (default seeds 0 1 2;
#                                                            EMOEDGE_DATA must be set)
#
# RUN_PREFIX_sS is seed S's run directory (trained on fold FOLD alone); its
# card is written to
# docs/runs/val_by_corpus/cards/NAME_foldFOLD_seedS_MACHINE.card.json.gz (or
# into EMOEDGE_CARDS_DIR, if set), where
# MACHINE (avx512 or avx2) names the vector extensions that decided the
# float kernels, so that a pair is judged only between cards of one machine.
# Each card also scores the clips through a -60 dBFS noise gate (column
# gate-60; seed_compare --condition gate-60), which every round since the
# thirty-fourth reports, and with every exact zero lifted to +-1 (column
# fill-zeros; RAVDESS's silences are digital zeros a live microphone never
# gives: DEFAULT_MODEL.md, the measurement after the thirty-fifth round).
# A seed already scored (RUN_PREFIX_card_sS/card.json)
# is not scored again.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: seed_cards.sh NAME FOLD RUN_PREFIX [SEED ...]"
name=${1:?$usage}
fold=${2:?$usage}
prefix=${3:?$usage}
seeds=("${@:4}")
[ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
: "${EMOEDGE_DATA:?set EMOEDGE_DATA to the corpora root}"
export EMOEDGE_CACHE=${EMOEDGE_CACHE:-/tmp/emoedge-cache}
cards=${EMOEDGE_CARDS_DIR:-$repo/docs/runs/val_by_corpus/cards}
if grep -qw avx512f /proc/cpuinfo; then machine=avx512; else machine=avx2; fi

for s in "${seeds[@]}"; do
    out=${prefix}_card_s$s  # keyed by seed: one seed's cards never stand in for another's
    [ -f "$out/card.json" ] || emoedge evaluate "${prefix}_s$s" --data "$EMOEDGE_DATA" -q \
        --held-out val --seed "$s" --gate -60 --fill-zeros --card "$out" > /dev/null
    gzip -nc "$out/card.json" > "$cards/${name}_fold${fold}_seed${s}_${machine}.card.json.gz"
    echo "${name} seed $s: $out/card.json"
done
