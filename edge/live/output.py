"""Text outputs of ``emoedge listen``: ``--json`` lines, plain lines, live warnings.

``--json`` writes one JSON object per hop to stdout and nothing else; each
line is flushed as it is written. Its keys, in order:

- ``t``: seconds of audio since the start when the window ended (3 decimals);
- ``label``: the emotion shown, or null when the window holds no speech;
- ``confidence``: the score of ``label``, or null with it;
- ``scores``: label -> score (6 decimals), smoothed over recent speech;
- ``speech``: the voice-activity gate's decision (true/false);
- ``valence``, ``arousal``: only when the model has them.

Everything else (status, warnings, the summary) goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from .session import NO_SPEECH, HopEvent, StopSession

JSON_KEYS = ("t", "label", "confidence", "scores", "speech")
JSON_VA_KEYS = ("valence", "arousal")


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def event_record(event: HopEvent) -> dict:
    """The ``--json`` object of one hop."""
    record = {"t": round(event.t_s, 3), "label": event.label,
              "confidence": _round(event.confidence),
              "scores": {name: _round(value) for name, value in event.scores.items()},
              "speech": bool(event.speech)}
    if event.valence is not None and event.arousal is not None:
        record["valence"] = _round(event.valence)
        record["arousal"] = _round(event.arousal)
    return record


def json_line(event: HopEvent) -> str:
    return json.dumps(event_record(event), ensure_ascii=False, allow_nan=False)


class JsonLinesWriter:
    """One JSON object per hop on ``stream`` (stdout), flushed per line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout

    def __call__(self, event: HopEvent) -> None:
        _write(self.stream, json_line(event) + "\n")


class PlainLines:
    """One readable line per hop, for a stdout that is not a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout

    def __call__(self, event: HopEvent) -> None:
        shown = (f"{event.label:<10} {event.confidence:.2f}" if event.label
                 else f"{NO_SPEECH:<10}     ")
        va = ""
        if event.valence is not None and event.arousal is not None:
            va = f"  valence {event.valence:+.2f} arousal {event.arousal:+.2f}"
        _write(self.stream, f"{event.t_s:8.2f} s  {shown}  level {event.level_dbfs:6.1f} dBFS"
                            f"{va}  overflows {event.overflows} drops {event.drops}\n")


def _write(stream: TextIO, text: str) -> None:
    """Write and flush; a closed reader (``| head``) ends the session normally."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        if stream is sys.stdout:  # nothing more can go there, not even at exit
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise StopSession("closed output") from None


class CounterWarnings:
    """Reports new overflows and drops on stderr, at most once per ``every_s``.

    For ``--json`` and plain output; the live view shows the counters itself.
    """

    def __init__(self, stream: TextIO | None = None, every_s: float = 1.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self._reported = (0, 0)
        self._last_s = -float("inf")

    def __call__(self, event: HopEvent) -> None:
        counts = (event.overflows, event.drops)
        now = time.monotonic()
        if counts == self._reported or now - self._last_s < self.every_s:
            return
        self._reported, self._last_s = counts, now
        self.stream.write(f"emoedge: warning: {event.overflows} input overflows, "
                          f"{event.drops} dropped blocks so far (the worker fell behind); "
                          "still listening\n")
        self.stream.flush()
