"""The forty-third round's table and verdict from the rows files that
``scripts/long_window_rows.py`` wrote, one per fold or several:

    python scripts/long_window_summary.py ROWS.json.gz...

The forty-second round's rule and pooling (``scripts/tail_window_summary.py``)
applied to the whole-clip window: over folds 1-3 pooled per seed, EMO-DB's UA
up at least 1.0 point, no seed's EMO-DB UA lower, RAVDESS's down no more than
0.5. The 3 s windows are reported beside it and judge nothing.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tail_window_summary  # noqa: E402  (a sibling script, not a package)

VARIANTS = ("shipped", "whole_clip", "win3s")
CANDIDATE = "whole_clip"


def main(argv: list[str] | None = None) -> None:
    tail_window_summary.main(argv, variants=VARIANTS, candidate=CANDIDATE, description=__doc__)


if __name__ == "__main__":
    main()
