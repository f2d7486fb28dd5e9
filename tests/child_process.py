"""Child processes that hear SIGINT as they would from a terminal.

A shell without job control (``cmd &`` in a script) starts its background
commands with SIGINT ignored, and every exec'd descendant inherits that:
Python then installs no KeyboardInterrupt handler at all. A test that
sends SIGINT to a child must therefore reset it in the child, or it would
measure how pytest was launched rather than how emoedge ends.
"""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` for Popen: SIGINT back to its default before exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
