"""The processor's name and vector extensions, from /proc/cpuinfo text."""

from __future__ import annotations

from emoedge.cpuinfo import cpu_model, parse_cpuinfo, read_cpuinfo, vector_extensions

X86_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni
processor\t: 1
model name\t: something else
"""
PI4_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU part\t: 0xd08

Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_the_first_processors_name_and_vector_extensions_on_x86():
    fields = parse_cpuinfo(X86_CPUINFO)
    assert cpu_model(fields) == "AMD EPYC 7B13"
    assert vector_extensions(fields) == ("sse4_2", "avx", "avx2", "fma", "avx512f",
                                         "avx512_vnni")


def test_an_arm_board_is_named_by_board_and_core():
    fields = parse_cpuinfo(PI4_CPUINFO)
    assert cpu_model(fields) == "Raspberry Pi 4 Model B Rev 1.4, Cortex-A72"
    assert vector_extensions(fields) == ("asimd",)
    unknown_core = parse_cpuinfo("CPU part\t: 0xfff\n")
    assert cpu_model(unknown_core) == "part 0xfff"


def test_no_cpuinfo_gives_no_fields(tmp_path):
    assert read_cpuinfo(str(tmp_path / "absent")) == {}
    assert vector_extensions({}) == ()
    assert parse_cpuinfo("a line with no colon\n") == {}
