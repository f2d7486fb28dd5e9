"""Run emoedge on an emulated Raspberry Pi-class aarch64 CPU, and count its instructions.

No Pi is needed: qemu-user runs the arm64 builds of Python, numpy, LiteRT and
the rest on this x86_64 machine, one process at a time, with no boot and no
binfmt registration. What is emulated is the CPU (the instruction set and
the features a Cortex-A72 or -A76 reports); the kernel is the host's.

    python scripts/aarch64/emulate.py root                  # build or reuse; print its path
    python scripts/aarch64/emulate.py run [--cpu cortex-a76] -- -m emoedge info M.tflite
    python scripts/aarch64/emulate.py count [--cpu cortex-a72] [--json OUT] -- <bench options>

``run`` passes everything after ``--`` to the guest's ``python3``. ``count``
runs ``python3 -m emoedge bench`` there with the instruction counter and
prints guest instructions per second of audio for each stage.

How the guest is made (each step is cached, see ``cache_dir``):

1. **Root.** ``mmdebstrap --variant=extract`` unpacks Debian bookworm's arm64
   ``python3.11`` (3.11.2, as on Raspberry Pi OS bookworm) and
   ``libportaudio2`` with their dependencies into a folder, using this
   machine's own apt sources. No chroot, no maintainer scripts; seconds.
2. **Wheels.** The host's pip downloads the aarch64 wheels of emoedge's
   dependencies into ``ROOT/opt/site``, at the versions installed on the
   host so both sides run the same code. Every ``manylinux_2_17`` to
   ``manylinux_2_36`` aarch64 tag is listed: bookworm's glibc is 2.36, and
   with fewer tags pip quietly picks an older ai-edge-litert. Bytecode is
   compiled once by the host's Python 3.11 (the same format), so guest runs
   do not recompile the standard library every time.
3. **emoedge** itself is pure Python: ``pip install --no-deps --target``
   from a copy of the checkout into ``ROOT/opt/emoedge-<hash of sources>``.
4. **CPU description.** XNNPACK reads ``/proc/cpuinfo`` and
   ``/sys/devices/system/cpu/{possible,present,online}``; without them it
   is silently skipped, and the host's ``/sys`` makes it crash. qemu looks
   up every path in ``ROOT`` first (``QEMU_LD_PREFIX``), so the root holds a
   Pi-like ``proc/cpuinfo`` (CPU part 0xd08 = Cortex-A72, 0xd0b = Cortex-A76)
   and ``sys/.../{possible,present,online}`` = ``0-3``. Every other path
   (the checkout, the data, /tmp) is the host's.
5. **Instruction counter.** ``insn_count.c`` beside this file, a TCG plugin
   for Debian's ``qemu-user`` (``qemu-user-static`` cannot load plugins),
   compiled against ``qemu-plugin.h`` from Debian's qemu source package,
   fetched with ``apt-get source --download-only`` through a private deb-src
   list made from this machine's apt sources (the system's apt setup is left
   as it is). Set ``EMOEDGE_QEMU_PLUGIN_H`` to use another copy of the header.

Running: ``qemu-aarch64`` with ``QEMU_CPU`` = ``cortex-a72`` (Raspberry Pi 4)
or ``cortex-a76`` (Raspberry Pi 5). Never qemu's default ``max``: its SME
emulation gave wrong int8 results in LiteRT. The environment is rebuilt from
scratch (the host's ``OPENBLAS_CORETYPE`` would name an x86 core), with
``PYTHONHASHSEED=0`` and ``OPENBLAS_NUM_THREADS=1``; with ``--threads 1``
the instruction counts then repeat exactly run to run.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

REPO = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
PLUGIN_SOURCE = HERE / "insn_count.c"
RECIPE_VERSION = "1"  # bump to rebuild every cached root
SUITE = "bookworm"
GUEST_PACKAGES = ("python3.11", "libportaudio2")
GUEST_PYTHON = "/usr/bin/python3.11"
# Runtime dependencies of the edge package, and what the guest test run needs.
WHEELS = ("numpy", "soundfile", "soxr", "ai-edge-litert", "typer", "pytest", "hypothesis")
MANYLINUX_TAGS = tuple(f"manylinux_2_{minor}_aarch64" for minor in range(17, 37))
CPUS = {
    # QEMU_CPU: (CPU part, Features line, board model, BogoMIPS)
    "cortex-a72": ("0xd08", "fp asimd evtstrm crc32 cpuid", "Raspberry Pi 4 Model B Rev 1.4",
                   "108.00"),
    "cortex-a76": ("0xd0b", "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp "
                   "cpuid asimdrdm lrcpc dcpop asimddp", "Raspberry Pi 5 Model B Rev 1.0",
                   "108.00"),
}
PROFILES = {"pi4": "cortex-a72", "pi5": "cortex-a76"}
TOOLS = ("qemu-aarch64", "mmdebstrap", "gcc", "apt-get", "tar")


class EmulationError(RuntimeError):
    """The guest could not be built or run; the message says which step."""


def cache_dir() -> pathlib.Path:
    """Where roots, plugin and header are kept: ``EMOEDGE_AARCH64_CACHE``, or
    ``~/.cache/emoedge/aarch64``."""
    default = pathlib.Path.home() / ".cache" / "emoedge" / "aarch64"
    return pathlib.Path(os.environ.get("EMOEDGE_AARCH64_CACHE", default))


def missing_tools() -> list[str]:
    """Host programs the recipe needs that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _run(command: list[str], step: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise EmulationError(f"{step} failed (exit {result.returncode}): "
                             f"{' '.join(command[:6])} ...\n" + "\n".join(tail))
    return result


def _digest(*parts: str | bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part if isinstance(part, bytes) else part.encode())
        sha.update(b"\0")
    return sha.hexdigest()[:16]


# --- apt sources of this machine -------------------------------------------
def debian_sources(kind: str = "deb") -> str:
    """This machine's apt entries for the Debian suite, as deb822 text.

    Keeps the stanzas (or one-line entries) that name a ``bookworm*`` suite
    and are not restricted to other architectures; ``kind`` is ``deb`` or
    ``deb-src`` (the latter for ``apt-get source``).
    """
    stanzas = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        text = pathlib.Path(path).read_text()
        for block in text.split("\n\n"):
            fields = {}
            for line in block.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if _wanted(fields):
                stanzas.append(fields)
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if not os.path.isfile(path):
            continue
        for line in pathlib.Path(path).read_text().splitlines():
            words = line.split("#")[0].split()
            if len(words) >= 4 and words[0] == "deb" and not words[1].startswith("["):
                fields = {"types": "deb", "uris": words[1], "suites": words[2],
                          "components": " ".join(words[3:])}
                if _wanted(fields):
                    stanzas.append(fields)
    if not stanzas:
        raise EmulationError(f"no Debian {SUITE} entry in this machine's apt sources")
    out = []
    for fields in stanzas:
        entry = [f"Types: {kind}", f"URIs: {fields['uris']}", f"Suites: {fields['suites']}",
                 f"Components: {fields.get('components', 'main')}"]
        if fields.get("signed-by"):
            entry.append(f"Signed-By: {fields['signed-by']}")
        out.append("\n".join(entry))
    return "\n\n".join(out) + "\n"


def _wanted(fields: dict) -> bool:
    if "deb" not in fields.get("types", "").split():
        return False
    if fields.get("enabled", "yes").lower() == "no":
        return False
    if not any(suite.startswith(SUITE) for suite in fields.get("suites", "").split()):
        return False
    arches = fields.get("architectures", "").split()
    return not arches or "arm64" in arches


# --- the root ----------------------------------------------------------------
def wheel_requirements() -> list[str]:
    """The guest's wheels, pinned to the host's installed versions where present."""
    requirements = []
    for name in WHEELS:
        try:
            requirements.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            requirements.append(name)
    return requirements


@dataclass(frozen=True)
class Guest:
    """A built root: its folder and the emoedge install inside it."""

    root: pathlib.Path
    emoedge_dir: str  # guest path of the folder holding the emoedge package

    @property
    def pythonpath(self) -> str:
        return f"/opt/site:{self.emoedge_dir}"


def ensure_root(log=print) -> pathlib.Path:
    """The cached arm64 root with its wheels, built when missing."""
    requirements = wheel_requirements()
    key = _digest(RECIPE_VERSION, SUITE, *GUEST_PACKAGES, *requirements, debian_sources())
    root = cache_dir() / f"root-{key}"
    if (root / ".complete").exists():
        return root
    cache_dir().mkdir(parents=True, exist_ok=True)
    building = pathlib.Path(tempfile.mkdtemp(prefix=f"root-{key}.", dir=cache_dir()))
    try:
        log(f"building the arm64 root in {root} ...")
        with tempfile.NamedTemporaryFile("w", suffix=".sources") as sources:
            sources.write(debian_sources())
            sources.flush()
            _run(["mmdebstrap", "--mode=root", "--variant=extract", "--architectures=arm64",
                  f"--include={','.join(GUEST_PACKAGES)}", SUITE, str(building), sources.name],
                 "mmdebstrap")
        platforms = [arg for tag in MANYLINUX_TAGS for arg in ("--platform", tag)]
        _run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--target", str(building / "opt" / "site"), *platforms, "--python-version", "3.11",
              "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:", *requirements],
             "pip install of the aarch64 wheels")
        _precompile(building, ["usr/lib/python3.11", "opt/site"])
        for name in ("possible", "present", "online"):
            path = building / "sys" / "devices" / "system" / "cpu" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("0-3\n")
        (building / "proc").mkdir(exist_ok=True)
        (building / ".complete").write_text(json.dumps({"wheels": requirements}) + "\n")
        building.chmod(0o755)  # mkdtemp made it private
        if root.exists():
            shutil.rmtree(root)
        building.rename(root)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return root


def _precompile(root: pathlib.Path, folders: list[str]) -> None:
    """Bytecode for the guest's Python 3.11, written by the host's (same format)."""
    if sys.version_info[:2] != (3, 11):
        return  # the guest then compiles on the fly, only slower
    for folder in folders:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0",
                        "-s", str(root), "-p", "/", str(root / folder)],
                       capture_output=True, check=False)


def install_emoedge(root: pathlib.Path) -> str:
    """Install the checkout's emoedge into the root; the guest folder holding it."""
    files = [REPO / "pyproject.toml", REPO / "README.md"]
    for folder in ("edge", "train", "quantize"):
        files += sorted(p for p in (REPO / folder).rglob("*.py"))
    # Package data (the default model and its card), as a real install has it.
    files += sorted(p for pattern in ("*.tflite", "*.md") for p in (REPO / "edge" / "models").glob(pattern))
    key = _digest(*(part for p in files for part in (str(p.relative_to(REPO)), p.read_bytes())))
    guest_dir = f"/opt/emoedge-{key}"
    target = root / guest_dir.lstrip("/")
    if (target / "emoedge" / "__init__.py").exists():
        return guest_dir
    with tempfile.TemporaryDirectory() as source:
        for path in files:
            copy = pathlib.Path(source) / path.relative_to(REPO)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        staging = pathlib.Path(tempfile.mkdtemp(prefix="emoedge-", dir=root / "opt"))
        try:
            _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                  "--no-build-isolation", "--disable-pip-version-check", "--target",
                  str(staging), source], "pip install of emoedge into the root")
            _precompile(root, [str(staging.relative_to(root))])
            for old in (root / "opt").glob("emoedge-*"):
                if old != staging and old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            staging.chmod(0o755)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return guest_dir


def prepare(log=print) -> Guest:
    """Build or reuse the root and install this checkout's emoedge into it."""
    missing = missing_tools()
    if missing:
        raise EmulationError("missing host tools: " + ", ".join(missing)
                             + " (apt-get install qemu-user mmdebstrap gcc)")
    root = ensure_root(log)
    return Guest(root, install_emoedge(root))


def write_cpu_description(root: pathlib.Path, cpu: str) -> None:
    """A Raspberry Pi-like /proc/cpuinfo for ``cpu`` inside the root."""
    part, features, board, bogomips = CPUS[cpu]
    lines = []
    for index in range(4):
        lines += [f"processor\t: {index}", f"BogoMIPS\t: {bogomips}", f"Features\t: {features}",
                  "CPU implementer\t: 0x41", "CPU architecture: 8", "CPU variant\t: 0x0",
                  f"CPU part\t: {part}", "CPU revision\t: 3", ""]
    lines += [f"Model\t\t: {board}", ""]
    text = "\n".join(lines)
    path = root / "proc" / "cpuinfo"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f"cpuinfo.{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)


# --- the plugin ----------------------------------------------------------------
def plugin_header() -> pathlib.Path:
    """``qemu-plugin.h`` of Debian's qemu source package (cached)."""
    override = os.environ.get("EMOEDGE_QEMU_PLUGIN_H")
    if override:
        return pathlib.Path(override)
    cached = cache_dir() / "qemu-plugin.h"
    if cached.exists():
        return cached
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        work_path = pathlib.Path(work)
        parts = work_path / "sources.list.d"
        lists = work_path / "lists" / "partial"
        archives = work_path / "cache" / "archives" / "partial"
        for folder in (parts, lists, archives):
            folder.mkdir(parents=True)
        (parts / "debian-src.sources").write_text(debian_sources("deb-src"))
        # Private lists and caches: the system's apt state is not touched.
        options = ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={parts}",
                   "-o", f"Dir::State::Lists={lists.parent}",
                   "-o", f"Dir::Cache={work_path / 'cache'}"]
        _run(["apt-get", "-qq", *options, "update"], "apt-get update of the deb-src list")
        _run(["apt-get", "-qq", *options, "source", "--download-only", "qemu"],
             "apt-get source qemu", cwd=work)
        tarballs = sorted(work_path.glob("qemu_*.orig.tar.*"))
        if not tarballs:
            raise EmulationError("apt-get source qemu gave no .orig tarball")
        _run(["tar", "-xf", str(tarballs[0]), "-C", work, "--wildcards",
              "*/include/qemu/qemu-plugin.h"], "extracting qemu-plugin.h")
        found = sorted(work_path.glob("*/include/qemu/qemu-plugin.h"))
        if not found:
            raise EmulationError("qemu-plugin.h not found in the qemu source package")
        shutil.copy2(found[0], cached)
    return cached


def ensure_plugin() -> pathlib.Path:
    """The compiled instruction counter (cached by source and header)."""
    header = plugin_header()
    key = _digest(PLUGIN_SOURCE.read_bytes(), header.read_bytes())
    library = cache_dir() / f"libinsn_count-{key}.so"
    if not library.exists():
        building = library.with_name(f"{library.name}.{os.getpid()}")
        _run(["gcc", "-O2", "-Wall", "-shared", "-fPIC", f"-I{header.parent}", "-o",
              str(building), str(PLUGIN_SOURCE)], "compiling insn_count.c")
        building.replace(library)
    return library


# --- running -----------------------------------------------------------------
def guest_environment(guest: Guest, cpu: str, extra: dict | None = None) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "QEMU_LD_PREFIX": str(guest.root),
        "QEMU_CPU": cpu,
        "PYTHONPATH": guest.pythonpath,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    for name in ("EMOEDGE_DATA", "CI"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def run_guest(guest: Guest, args: list[str], *, cpu: str = "cortex-a72",
              counts: str | os.PathLike | None = None, env: dict | None = None,
              timeout: float | None = None, cwd: str | os.PathLike | None = None,
              capture: bool = True) -> subprocess.CompletedProcess:
    """Run the guest's python3 with ``args`` under qemu-aarch64.

    Args:
        counts: write the instruction counter's report here (loads the plugin
            and turns on emoedge's bench markers).
    """
    if cpu not in CPUS:
        raise EmulationError(f"unknown CPU {cpu}; use one of {', '.join(CPUS)} (never 'max')")
    write_cpu_description(guest.root, cpu)
    command = ["qemu-aarch64"]
    extra = dict(env or {})
    if counts is not None:
        from_package = _marker_syscall()
        command += ["-plugin", f"{ensure_plugin()},out={counts},sysno={from_package}"]
        extra["EMOEDGE_BENCH_MARKERS"] = "1"
    command += [str(guest.root) + GUEST_PYTHON, *args]
    return subprocess.run(command, env=guest_environment(guest, cpu, extra), timeout=timeout,
                          cwd=cwd, capture_output=capture, text=True)


def _marker_syscall() -> int:
    sys.path.insert(0, str(REPO / "edge"))
    try:
        import bench_markers  # the module is dependency-free; read the number from it
    finally:
        sys.path.pop(0)
    return bench_markers.MARKER_SYSCALL


def read_counts(path: str | os.PathLike) -> dict:
    """The plugin's report: {"total": n, "regions": {name: {"pairs", "instructions"}}}."""
    sys.path.insert(0, str(REPO / "edge"))
    try:
        import bench_markers
    finally:
        sys.path.pop(0)
    report = {"total": None, "regions": {}}
    for line in pathlib.Path(path).read_text().splitlines():
        words = line.split()
        if words[0] == "total":
            report["total"] = int(words[1])
        elif words[0] == "region":
            name = bench_markers.REGION_NAMES.get(int(words[1]), f"region{words[1]}")
            report["regions"][name] = {"pairs": int(words[2]), "instructions": int(words[3])}
        elif words[0] == "unmatched_ends":
            report["unmatched_ends"] = int(words[1])
    return report


def count_bench(guest: Guest, bench_args: list[str], cpu: str, *,
                timeout: float | None = None) -> dict:
    """Run ``emoedge bench`` in the guest with the counter.

    Returns:
        {"cpu", "bench" (its JSON report), "counts" (the plugin's),
        "per_audio_second" {stage: instructions per second of audio per pass},
        "marker_pair_instructions"}.
    """
    with tempfile.TemporaryDirectory(prefix="emoedge-count-") as work:
        report_path = os.path.join(work, "bench.json")
        counts_path = os.path.join(work, "counts.txt")
        result = run_guest(guest, ["-m", "emoedge", "bench", *bench_args, "--json", report_path],
                           cpu=cpu, counts=counts_path, timeout=timeout)
        if result.returncode != 0:
            raise EmulationError(f"emoedge bench failed under emulation (exit "
                                 f"{result.returncode}):\n{result.stdout}\n{result.stderr}")
        bench = json.loads(pathlib.Path(report_path).read_text())
        counts = read_counts(counts_path)
    if len(bench["models"]) != 1:
        raise EmulationError("count one model at a time (no --compare)")
    model = bench["models"][0]
    passes = bench["settings"]["repeat"]
    audio_s = bench["audio"]["duration_s"]
    regions = counts["regions"]
    calibrate = regions.get("calibrate")
    pair_cost = calibrate["instructions"] / calibrate["pairs"] if calibrate else 0.0
    per_second, per_call = {}, {}
    for name, region in regions.items():
        if name == "calibrate":
            continue
        # Each begin/end pair's own cost (ctypes + libc) lands in its region: take it off.
        net = region["instructions"] - region["pairs"] * pair_cost
        per_second[name] = net / passes / audio_s
        per_call[name] = net / region["pairs"]
    per_second["pipeline"] = sum(per_second.get(s, 0.0) for s in
                                 ("frontend", "quantize", "invoke", "postprocess"))
    return {"cpu": cpu, "bench": bench, "counts": counts, "per_audio_second": per_second,
            "per_call": per_call, "marker_pair_instructions": pair_cost,
            "windows_per_pass": model["windows_per_pass"], "passes": passes,
            "audio_s": audio_s}


def _print_counts(result: dict) -> None:
    print(f"QEMU_CPU={result['cpu']}: {result['audio_s']:.2f} s of audio x {result['passes']} "
          f"passes, {result['windows_per_pass']} windows per pass")
    print(f"{'region':<14}{'M instructions / audio s':>26}{'M instructions / call':>24}")
    for name, value in result["per_audio_second"].items():
        call = result["per_call"].get(name)
        print(f"{name:<14}{value / 1e6:>26.3f}" + (f"{call / 1e6:>24.3f}" if call else ""))
    print(f"(a marker pair costs {result['marker_pair_instructions']:.0f} instructions; "
          f"whole process {result['counts']['total'] / 1e6:.1f} M)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("root", help="build or reuse the arm64 root; print its path")
    for name in ("run", "count"):
        command = sub.add_parser(name)
        command.add_argument("--cpu", default="cortex-a72",
                             help="QEMU_CPU, or pi4 / pi5 (default cortex-a72)")
        if name == "count":
            command.add_argument("--json", help="write the counts and the bench report here")
        command.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    guest = prepare(log=lambda message: print(message, file=sys.stderr))
    if options.command == "root":
        print(guest.root)
        return 0
    cpu = PROFILES.get(options.cpu, options.cpu)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    if options.command == "run":
        return run_guest(guest, args, cpu=cpu, capture=False).returncode
    result = count_bench(guest, args, cpu)
    _print_counts(result)
    if options.json:
        pathlib.Path(options.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
