#!/usr/bin/env bash
# The nineteenth round's queue (docs/DEFAULT_MODEL.md, "The nineteenth round"):
# folds 2 then 3, seeds 0-2, each pair control then candidate, so both sides of
# a pair share one machine. It lives in the repository because a session can
# land on a new machine without the last one's /tmp: a pair whose cards are
# already committed is skipped, and a run cut mid-way resumes from its last
# whole epoch when its run directory is still there.
#
#   scripts/round19.sh [RUNS_DIR [reverse]]   (default /tmp/runs; EMOEDGE_DATA must be set)
#
# A second queue started with "reverse" (fold 3 seed 2 first) lets one pair
# end while another trains; it adds no throughput (measured: 0.105 epochs/s
# with one run or two on 2 cores). A lock directory per pair keeps the two
# from taking the same pair.
#
# Cards go to docs/runs/val_by_corpus/cards/, named by side, screen, fold,
# seed and the machine's widest vector extension (avx2 or avx512), gzipped.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-/tmp/runs}
cards=$repo/docs/runs/val_by_corpus/cards
recipe=$repo/recipes/default_model.toml
: "${EMOEDGE_DATA:?set EMOEDGE_DATA to the corpora root}"
export EMOEDGE_CACHE=${EMOEDGE_CACHE:-/tmp/emoedge-cache}
mkdir -p "$runs"

if grep -qw avx512f /proc/cpuinfo; then machine=avx512; else machine=avx2; fi

fold_group() {  # the recipe's fold group K (1-based) as a TOML array
    python - "$recipe" "$1" <<'EOF'
import json, sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(json.dumps(tomllib.load(f)["data"]["fold_groups"][int(sys.argv[2]) - 1]))
EOF
}

card_name() {  # SIDE SCREEN K S -> the committed card's file name
    local prefix
    if [ "$1" = control ]; then prefix=float_control; else prefix=speaker_both_upto20; fi
    if [ "$2" = all ]; then echo "${prefix}_fold$3_seed$4_${machine}.card.json.gz"
    else echo "${prefix}_$2_fold$3_seed$4_${machine}.card.json.gz"; fi
}

screens() {  # SIDE -> the screens scored for it
    if [ "$1" = control ]; then echo all; else echo all heard20 cold heard5 own_clip; fi
}

screen_flags() {
    case $1 in
        all) ;;
        heard20) echo --heard-clips 20 ;;
        heard5) echo --heard-clips 5 ;;
        cold) echo --heard-clips 0 ;;
        own_clip) echo --own-clip ;;
    esac
}

pair_done() {  # K S: every card of both sides is committed, on any machine
    local side screen
    for side in control grouped; do
        for screen in $(screens $side); do
            compgen -G "$cards/$(card_name $side $screen "$1" "$2" | sed "s/_${machine}\./_*./")" > /dev/null || return 1
        done
    done
}

train_side() {  # SIDE K S
    local run=$runs/r19_$1_f$2_s$3 extra=()
    [ "$1" = grouped ] && extra=(--set model.input_norm=speaker-both --set model.speaker_heard_clips_up_to=20)
    [ -f "$run/report.md" ] && return 0
    if [ -f "$run/run.json" ]; then
        emoedge train --resume "$run" --data "$EMOEDGE_DATA" -q
    else
        emoedge train "$recipe" --data "$EMOEDGE_DATA" -o "$run" --no-export -q \
            --set data.split=kfold --set data.val_fraction=0.25 --set data.val_by_corpus=true \
            --set "data.fold_groups=[$(fold_group "$2")]" --set "training.seeds=[$3]" "${extra[@]}"
    fi
}

score_side() {  # SIDE K S
    local run=$runs/r19_$1_f$2_s$3 screen out
    for screen in $(screens "$1"); do
        out=$runs/r19_card_$1_${screen}_f$2_s$3
        # shellcheck disable=SC2046
        [ -f "$out/card.json" ] || emoedge evaluate "$run" --data "$EMOEDGE_DATA" -q \
            --held-out val --seed "$3" --card "$out" $(screen_flags "$screen")
        gzip -c "$out/card.json" > "$cards/$(card_name "$1" "$screen" "$2" "$3")"
    done
}

take_pair() {  # K S: claim the pair unless a live queue holds it (a dead one's claim lapses)
    local lock=$runs/lock_f$1_s$2
    if ! mkdir "$lock" 2> /dev/null && kill -0 "$(cat "$lock/pid" 2> /dev/null)" 2> /dev/null; then
        return 1
    fi
    echo $$ > "$lock/pid"
}

pairs="2:0 2:1 2:2 3:0 3:1 3:2"
[ "${2:-}" = reverse ] && pairs="3:2 3:1 3:0 2:2 2:1 2:0"
for pair in $pairs; do
    K=${pair%:*} S=${pair#*:}
    if pair_done $K $S; then echo "fold $K seed $S: cards committed, skipped"; continue; fi
    if ! take_pair $K $S; then echo "fold $K seed $S: taken by another queue"; continue; fi
    for side in control grouped; do
        echo "$(date -u +%FT%TZ) fold $K seed $S $side: training"
        train_side $side $K $S
        echo "$(date -u +%FT%TZ) fold $K seed $S $side: scoring"
        score_side $side $K $S
    done
done
echo "$(date -u +%FT%TZ) queue finished"
