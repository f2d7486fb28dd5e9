"""The live terminal view of ``emoedge listen`` (rich).

One panel, redrawn in place at most ``refresh_per_second`` times: the
current emotion (or "no speech"), an input level meter, a bar per emotion,
valence and arousal when the model has them, and the overflow and drop
counters. :func:`render` builds the panel from one :class:`HopEvent`, so the
view can be printed once (tests, README) as well as run live.
"""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .session import NO_SPEECH, HopEvent

BAR_WIDTH = 30
LEVEL_RANGE_DBFS = (-70.0, 0.0)
_COLOURS = {"neutral": "white", "happy": "yellow", "sad": "blue", "angry": "red",
            "fear": "magenta", "fearful": "magenta", "disgust": "green", "surprise": "cyan",
            "surprised": "cyan", "calm": "bright_cyan", "boredom": "bright_black"}


def _bar(fraction: float, style: str, width: int = BAR_WIDTH) -> Text:
    filled = round(min(max(fraction, 0.0), 1.0) * width)
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="grey30")


def _centre_bar(value: float, style: str, width: int = BAR_WIDTH) -> Text:
    """A bar for a value in [-1, 1], growing left or right from the middle."""
    half = (width - 1) // 2
    cells = round(min(abs(value), 1.0) * half)
    left = "░" * (half - (cells if value < 0 else 0))
    right_fill = cells if value > 0 else 0
    return (Text(left, style="grey30") + Text("█" * (cells if value < 0 else 0), style=style)
            + Text("│", style="grey50") + Text("█" * right_fill, style=style)
            + Text("░" * (half - right_fill), style="grey30"))


PANEL_WIDTH = BAR_WIDTH + 28


def render(event: HopEvent | None, *, labels: tuple[str, ...], source: str,
           title: str = "emoedge listen") -> Panel:
    """The view for the latest hop (None: waiting for the first window)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="bold", min_width=9)
    grid.add_column(no_wrap=True, overflow="ellipsis", max_width=BAR_WIDTH)
    grid.add_column(justify="right", min_width=11)
    header = Text(source, style="grey62", no_wrap=True, overflow="ellipsis")
    if event is None:
        grid.add_row("", Text("waiting for the first window ...", style="italic"), "")
        return Panel(Group(header, Text(""), grid), title=title, width=PANEL_WIDTH)
    speech = event.speech
    if event.label:
        colour = _COLOURS.get(event.label, "bold")
        grid.add_row("now", Text(event.label.upper(), style=f"bold {colour}"),
                     f"{event.confidence:.2f}")
    else:
        grid.add_row("now", Text(NO_SPEECH, style="italic grey62"), "")
    low, high = LEVEL_RANGE_DBFS
    level_style = "red" if event.level_dbfs > -3 else "green"
    grid.add_row("level", _bar((event.level_dbfs - low) / (high - low), level_style),
                 f"{event.level_dbfs:6.1f} dBFS")
    grid.add_row("", "", "")
    for name in labels:
        score = event.scores.get(name, 0.0)
        style = _COLOURS.get(name, "white") if speech else "grey42"
        grid.add_row(name, _bar(score, style), f"{score:.2f}")
    if event.valence is not None and event.arousal is not None:
        grid.add_row("", "", "")
        va_style = "bright_white" if speech else "grey42"
        grid.add_row("valence", _centre_bar(event.valence, va_style), f"{event.valence:+.2f}")
        grid.add_row("arousal", _centre_bar(event.arousal, va_style), f"{event.arousal:+.2f}")
    counters_style = "bold red" if event.overflows or event.drops else "grey62"
    footer = Text(f"t {event.t_s:7.1f} s   overflows {event.overflows}   "
                  f"drops {event.drops}", style=counters_style)
    return Panel(Group(header, Text(""), grid, Text(""), footer), title=title, width=PANEL_WIDTH,
                 subtitle="Ctrl-C stops")


class LiveDisplay:
    """Redraws :func:`render` in place on the terminal; a sink for HopEvents."""

    def __init__(self, *, labels: tuple[str, ...], source: str, console: Console | None = None,
                 refresh_per_second: float = 10.0) -> None:
        from rich.live import Live

        self.labels = labels
        self.source = source
        self.console = console or Console()
        self._min_interval_s = 1.0 / refresh_per_second
        self._last_draw_s = -float("inf")
        self._latest: HopEvent | None = None
        self._live = Live(render(None, labels=labels, source=source), console=self.console,
                          auto_refresh=False, transient=False, redirect_stderr=False)

    def __enter__(self) -> "LiveDisplay":
        self._live.start(refresh=True)
        return self

    def __call__(self, event: HopEvent) -> None:
        self._latest = event
        now = time.monotonic()
        if now - self._last_draw_s >= self._min_interval_s:
            self._draw()
            self._last_draw_s = now

    def _draw(self) -> None:
        self._live.update(render(self._latest, labels=self.labels, source=self.source),
                          refresh=True)

    def __exit__(self, *exc) -> None:
        if self._latest is not None:
            self._draw()
        self._live.stop()
