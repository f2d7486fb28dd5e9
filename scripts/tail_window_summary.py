"""The forty-second round's table and verdict from the rows files that
``scripts/tail_window_rows.py`` wrote, one per fold or several:

    python scripts/tail_window_summary.py ROWS.json.gz...

Per seed, the clips of every file are pooled and UA is computed per corpus
for each window variant; figures are seed means, in %. The rule
(docs/DEFAULT_MODEL.md, written before the round): over folds 1-3, the tail
window passes only if EMO-DB's UA rises at least 1.0 point, no seed's
EMO-DB UA falls, and RAVDESS's falls no more than 0.5. A verdict is given
only when folds 1-3 are all there with the same seeds and every run
repeats its kept card; otherwise the table is printed and the verdict
waits.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict

from emoedge.train.card_compare import read_card
from emoedge.train.metrics import classification_report

VARIANTS = ("shipped", "tail", "hop250")
CANDIDATE = "tail"  # the variant the rule judges against "shipped"
FOLDS_JUDGED = {1, 2, 3}


@dataclasses.dataclass(frozen=True, kw_only=True)
class CorpusFigures:
    """One corpus's UA (%) per seed, in seed order, for each variant, and
    how many pooled clips the candidate variant relabels."""
    seeds: list[int]
    ua_percent: dict[str, list[float]]
    candidate_changes: int
    wrong_to_right: int
    right_to_wrong: int
    clips: int

    def mean(self, variant: str) -> float:
        values = self.ua_percent[variant]
        return sum(values) / len(values)


def load_rows(paths: list[str]) -> tuple[list[str], dict[str, dict]]:
    """The labels and the runs ("fF_sS" -> run entry) of all files; a run
    found twice or a file with other labels is refused."""
    labels, runs = None, {}
    for path in paths:
        doc = read_card(path)
        if labels not in (None, doc["labels"]):
            raise SystemExit(f"{path} has labels {doc['labels']}, the first file {labels}")
        labels = doc["labels"]
        for key, run in doc["runs"].items():
            if key in runs:
                raise SystemExit(f"{key} is in more than one rows file ({path})")
            runs[key] = run
    return labels, runs


def corpus_figures(labels: list[str], runs: dict[str, dict], corpus: str,
                   variants: tuple[str, ...] = VARIANTS,
                   candidate: str = CANDIDATE) -> CorpusFigures:
    """``corpus``'s figures with every run's clips pooled per seed."""
    pooled = defaultdict(list)
    for key, run in runs.items():
        pooled[int(key.split("_s")[1])] += [r for r in run["rows"] if r["corpus"] == corpus]
    seeds = sorted(pooled)

    def ua(rows, variant):
        return 100 * classification_report([labels.index(r["true"]) for r in rows],
                                           [labels.index(r[variant]) for r in rows], labels).ua

    rows = [r for s in seeds for r in pooled[s]]
    return CorpusFigures(
        seeds=seeds, ua_percent={v: [ua(pooled[s], v) for s in seeds] for v in variants},
        candidate_changes=sum(r[candidate] != r["shipped"] for r in rows),
        wrong_to_right=sum(r[candidate] == r["true"] != r["shipped"] for r in rows),
        right_to_wrong=sum(r["shipped"] == r["true"] != r[candidate] for r in rows),
        clips=len(rows))


def why_no_verdict(runs: dict[str, dict]) -> str | None:
    """Why the rule cannot be applied to ``runs`` yet; None if it can."""
    folds = defaultdict(set)
    for key in runs:
        fold, seed = key[1:].split("_s")
        folds[int(fold)].add(int(seed))
    if set(folds) != FOLDS_JUDGED:
        return f"folds {sorted(folds)} scored; the rule pools folds 1-3"
    if len({frozenset(s) for s in folds.values()}) != 1:
        return f"the folds have different seeds: {dict(sorted(folds.items()))}"
    astray = [k for k, run in sorted(runs.items()) if run["differ_from_kept_card"] != 0]
    if astray:
        return f"{', '.join(astray)} do not repeat their kept cards"
    return None


def verdict(emodb: CorpusFigures, ravdess: CorpusFigures,
            candidate: str = CANDIDATE) -> tuple[bool, list[str]]:
    """The rule's three conditions, each with its figure."""
    gain = emodb.mean(candidate) - emodb.mean("shipped")
    lower = [s for s, a, b in zip(emodb.seeds, emodb.ua_percent["shipped"],
                                  emodb.ua_percent[candidate]) if b < a]
    ravdess_change = ravdess.mean(candidate) - ravdess.mean("shipped")
    conditions = [(gain >= 1.0, f"EMO-DB {gain:+.2f} (at least +1.0)"),
                  (not lower, f"EMO-DB seeds lower: {lower or 'none'}"),
                  (ravdess_change >= -0.5, f"RAVDESS {ravdess_change:+.2f} (at least -0.5)")]
    return all(ok for ok, _ in conditions), [("holds: " if ok else "fails: ") + text
                                             for ok, text in conditions]


def main(argv: list[str] | None = None, variants: tuple[str, ...] = VARIANTS,
         candidate: str = CANDIDATE, description: str = __doc__) -> None:
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("rows", nargs="+", help="rows files of the round's rows script")
    args = parser.parse_args(argv)
    labels, runs = load_rows(args.rows)
    figures = {c: corpus_figures(labels, runs, c, variants, candidate) for c in ("emodb", "ravdess")}
    for corpus, f in figures.items():
        for variant in variants:
            per_seed = " / ".join(f"{v:.1f}" for v in f.ua_percent[variant])
            print(f"{corpus} {variant}: {per_seed}, mean {f.mean(variant):.2f}")
        print(f"{corpus} {candidate} relabels {f.candidate_changes} of {f.clips} "
              f"(wrong->right {f.wrong_to_right}, right->wrong {f.right_to_wrong})")
    reason = why_no_verdict(runs)
    if reason is not None:
        print(f"verdict waits: {reason}")
        return
    passed, lines = verdict(figures["emodb"], figures["ravdess"], candidate)
    print("\n".join(lines))
    print("verdict: passes" if passed else "verdict: fails")


if __name__ == "__main__":
    main()
