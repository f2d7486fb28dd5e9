"""What every benchmark records next to its figures: machine, code, command."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def base_machine_info() -> dict:
    """CPU model, vector extensions, architecture, core counts and the Python version."""
    from emoedge.cpuinfo import cpu_model, read_cpuinfo, vector_extensions

    cpuinfo = read_cpuinfo()
    return {
        "cpu_model": cpu_model(cpuinfo),
        "vector_extensions": list(vector_extensions(cpuinfo)),
        "arch": platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
    }


def git_state() -> dict:
    """Commit of the checkout and whether edge/ (the timed code) has local edits."""
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              text=True, check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "edge_modified": bool(git("status", "--porcelain", "--", "edge"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "edge_modified": None}


def command_line(data_from_env: str | None) -> str:
    """The invocation as typed, with EMOEDGE_DATA prefixed when it was used."""
    argv = getattr(sys, "orig_argv", [sys.executable, *sys.argv])
    prefix = f"EMOEDGE_DATA={shlex.quote(data_from_env)} " if data_from_env else ""
    return prefix + shlex.join(argv)


def package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
