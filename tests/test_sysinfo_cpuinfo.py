"""The cpuinfo parser and microarchitecture naming on real /proc/cpuinfo dumps.

The dumps live in ../shared/fixtures/cpuinfo (outside the repository),
named <os>-<microarchitecture>; the tests skip when that directory is absent.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from suite import cpuparts, sysinfo

DUMPS = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "cpuinfo"
FILES = sorted(p for p in DUMPS.glob("linux-*")) if DUMPS.is_dir() else []
ARM_NAMES = {"neoverse_n1", "neoverse_v1", "neoverse_n2", "neoverse_v2", "ampere1"}

pytestmark = pytest.mark.skipif(not FILES, reason=f"no cpuinfo dumps at {DUMPS}")


def _collect(path: Path, tmp_path: Path) -> dict:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(path.read_text())
    return sysinfo.collect(str(tmp_path), live=False)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_dump_is_named_as_archspec_names_it(path, tmp_path):
    expected = path.name.rsplit("-", 1)[1]
    info = _collect(path, tmp_path)
    assert info["arch"] == ("aarch64" if expected in ARM_NAMES else "x86_64")
    assert info["microarchitecture"]["name"] == expected
    assert info["microarchitecture"]["source"] == "archspec"
    assert info["logical_cpus"] >= 1  # from the processor blocks when sysfs is absent


@pytest.mark.parametrize("path", [p for p in FILES if p.name.endswith("neoverse_v2")],
                         ids=lambda p: p.name)
def test_neoverse_v2_dump_fields(path, tmp_path):
    info = _collect(path, tmp_path)
    assert (info["cpu_implementer"], info["cpu_part"]) == ("0x41", "0xd4f")
    assert info["cpu_part_name"] == "Neoverse-V2"
    assert info["isa"]["sve"] and info["isa"]["sve2"] and info["isa"]["asimd"]
    assert info["isa"]["sve_vector_length_bytes"] is None  # not in a cpuinfo dump: unknown


def test_ampere_one_is_named_by_part(tmp_path):
    path = DUMPS / "linux-ubuntu22.04-ampere1"
    if not path.exists():
        pytest.skip("no Ampere One dump")
    info = _collect(path, tmp_path)
    assert info["vendor"] == "Ampere" and info["cpu_part_name"] == "Ampere-1"
    assert info["isa"]["sve"] is False  # Ampere One has no SVE


@pytest.mark.parametrize("path", [p for p in FILES if p.name.rsplit("-", 1)[1] not in ARM_NAMES],
                         ids=lambda p: p.name)
def test_x86_dump_model_and_isa(path, tmp_path):
    info = _collect(path, tmp_path)
    assert info["model_name"] and info["vendor"] in {"GenuineIntel", "AuthenticAMD"}
    assert info["cpu_implementer"] is None
    assert info["isa"]["avx2"] is True
    blocks = sysinfo.parse_cpuinfo(path.read_text())
    assert info["isa"]["avx512f"] == ("avx512f" in blocks[0]["flags"].split())

