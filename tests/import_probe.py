"""Which top-level packages a fresh interpreter loads for some imports."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterable


def packages_loaded_by(modules: Iterable[str], watched: Iterable[str]) -> list[str]:
    """Import ``modules`` in a new Python process; return the ``watched``
    top-level packages that ended up in its ``sys.modules``, sorted."""
    code = (f"import sys\nfor name in {list(modules)!r}: __import__(name)\n"
            f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(watched)!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return [name for name in result.stdout.strip().split(",") if name]
