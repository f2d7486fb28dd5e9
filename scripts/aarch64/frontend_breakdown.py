"""Where the frontend's instructions go: one region per frontend stage.

    python scripts/aarch64/frontend_breakdown.py [--cpu cortex-a72] [--seconds 10]
        [--chunk-ms 500] [--json OUT]

Runs, under the emulated CPU with the instruction counter, the generated
signal of ``emoedge bench`` through ``StreamingFrontend.process`` in chunks
of 500 ms (the fixture model's hop; ``--chunk-ms``), with the frontend's own stage functions
wrapped in marker calls: windowing, fixed-point FFT, power spectrum, mel
filterbank, square root, log. What the wrappers cannot see (framing, block
scaling shifts, buffering) is the rest of the ``frontend`` region. Each
marker pair's own cost (measured in the calibrate region) is taken off.
Prints million guest instructions per second of audio per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
STAGES = {"window": 40, "fft": 41, "energy": 42, "filterbank": 43, "sqrt": 44, "log": 45}
FRONTEND, CALIBRATE = 46, 47

GUEST_CODE = r"""
import sys
import numpy as np
from emoedge import FrontendConfig, StreamingFrontend
from emoedge.bench_markers import MARKER_SYSCALL, _load_syscall
from emoedge.commands.bench import speech_like_signal
from emoedge.frontend import pipeline
from emoedge.frontend.fft import FixedRealFft
from emoedge.frontend.filterbank import MelFilterbank

stages, frontend, calibrate, seconds, chunk_ms = eval(sys.argv[1])
call = _load_syscall()
counting = [False]  # markers only in the counted pass

def marked(function, region):
    def wrapper(*args, **kwargs):
        if not counting[0]:
            return function(*args, **kwargs)
        call(MARKER_SYSCALL, 1, region)
        result = function(*args, **kwargs)
        call(MARKER_SYSCALL, 2, region)
        return result
    return wrapper

for name in ("apply_window", "power_spectrum", "rounded_isqrt", "log_scale"):
    key = {"apply_window": "window", "power_spectrum": "energy", "rounded_isqrt": "sqrt",
           "log_scale": "log"}[name]
    setattr(pipeline, name, marked(getattr(pipeline, name), stages[key]))
FixedRealFft.__call__ = marked(FixedRealFft.__call__, stages["fft"])
MelFilterbank.apply = marked(MelFilterbank.apply, stages["filterbank"])

config = FrontendConfig()
pcm = np.round(speech_like_signal(seconds, config.sample_rate_hz) * 32768).astype(np.int16)
chunk = chunk_ms * config.sample_rate_hz // 1000
frontend_object = StreamingFrontend(config)
for counted in (False, True):  # a warm-up pass, then the counted pass
    frontend_object.reset()
    counting[0] = counted
    for offset in range(0, len(pcm), chunk):
        if counted:
            call(MARKER_SYSCALL, 1, frontend)
        frontend_object.process(pcm[offset:offset + chunk])
        if counted:
            call(MARKER_SYSCALL, 2, frontend)
for _ in range(16):
    call(MARKER_SYSCALL, 1, calibrate)
    call(MARKER_SYSCALL, 2, calibrate)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", default="cortex-a72")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chunk-ms", type=int, default=500)
    parser.add_argument("--json", help="also write the figures here")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import emulate

    cpu = emulate.PROFILES.get(options.cpu, options.cpu)
    guest = emulate.prepare(log=lambda message: print(message, file=sys.stderr))
    with tempfile.TemporaryDirectory() as work:
        counts_path = os.path.join(work, "counts.txt")
        config = repr((STAGES, FRONTEND, CALIBRATE, options.seconds, options.chunk_ms))
        result = emulate.run_guest(guest, ["-c", GUEST_CODE, config], cpu=cpu,
                                   counts=counts_path)
        if result.returncode != 0:
            print(result.stdout, result.stderr, file=sys.stderr)
            return 1
        regions = {}
        for line in pathlib.Path(counts_path).read_text().splitlines():
            words = line.split()
            if words[0] == "region":
                regions[int(words[1])] = (int(words[2]), int(words[3]))
    pair_cost = regions[CALIBRATE][1] / regions[CALIBRATE][0]
    figures = {}
    for name, number in STAGES.items():
        pairs, instructions = regions.get(number, (0, 0))
        figures[name] = (instructions - pairs * pair_cost) / options.seconds
    frontend_pairs, frontend_total = regions[FRONTEND]
    inner_pairs = sum(regions.get(n, (0, 0))[0] for n in STAGES.values())
    frontend = (frontend_total - frontend_pairs * pair_cost
                - inner_pairs * pair_cost) / options.seconds
    figures["rest"] = frontend - sum(figures.values())
    figures["frontend"] = frontend
    print(f"QEMU_CPU={cpu}, {options.seconds:g} s of generated audio "
          f"in {options.chunk_ms} ms chunks")
    print(f"{'stage':<12}{'M instructions / audio s':>26}{'share':>8}")
    for name, value in figures.items():
        print(f"{name:<12}{value / 1e6:>26.3f}{100 * value / frontend:>7.1f}%")
    if options.json:
        pathlib.Path(options.json).write_text(json.dumps(
            {"cpu": cpu, "seconds": options.seconds, "chunk_ms": options.chunk_ms,
             "per_audio_second": figures, "marker_pair_instructions": pair_cost}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
