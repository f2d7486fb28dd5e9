"""The machine a fold was trained on: parsed, recorded and compared."""

from __future__ import annotations

import platform

from emoedge.train.machine import (arithmetic_key, describe_machine, machines_of, read_machine,
                                   write_machine)
from emoedge.train.seed_compare import machine_note


def test_a_machine_without_cpuinfo_is_still_described(tmp_path):
    machine = describe_machine(str(tmp_path / "absent"))
    assert machine["arch"] == platform.machine()
    assert machine["cpu"] in ("unknown", platform.processor())
    assert machine["vector_extensions"] == []
    assert machine["numpy"]  # installed with emoedge


def test_the_machine_round_trips_through_the_fold_directory(tmp_path):
    assert read_machine(tmp_path) is None  # a fold trained before folds recorded it
    write_machine(tmp_path)
    assert read_machine(tmp_path) == describe_machine()


def _machine(vectors, tensorflow="2.21.0", cpu="any"):
    return {"arch": "x86_64", "cpu": cpu, "vector_extensions": vectors, "cores": 2,
            "tensorflow": tensorflow, "numpy": "2.4.6"}


def _card(*machines):
    return {"models": [{"path": "m", "trained_on": m} for m in machines]}


def test_only_the_facts_that_change_the_arithmetic_tell_machines_apart():
    avx2 = _machine(["avx", "avx2", "fma"])
    assert arithmetic_key(avx2) == "arch=x86_64, vector_extensions=avx+avx2+fma, tensorflow=2.21.0"
    assert arithmetic_key(_machine(["avx", "avx2", "fma"], cpu="other")) == arithmetic_key(avx2)
    assert arithmetic_key(_machine(["avx2"], tensorflow="2.20.0")) != arithmetic_key(avx2)
    assert arithmetic_key(None) == "unknown"
    assert machines_of([_card(avx2, None), {"per_model": []}]) == {arithmetic_key(avx2), "unknown"}


def test_seed_compare_notes_a_machine_change_and_cards_that_do_not_say():
    avx2, avx512 = _machine(["avx2"]), _machine(["avx2", "avx512f"])
    assert machine_note([_card(avx2)], [_card(avx2, avx2)]) is None
    note = machine_note([_card(avx512)], [_card(avx2)])
    assert "compute differently" in note
    assert "control: arch=x86_64, vector_extensions=avx2+avx512f" in note
    assert "candidate: arch=x86_64, vector_extensions=avx2," in note
    assert "no card says" in machine_note([_card(None)], [{"per_model": []}])
    assert "compute differently, or a card does not say" in machine_note([_card(None)],
                                                                         [_card(avx2)])
    assert "does not say" not in note
