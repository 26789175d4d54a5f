import pytest

from suite import energy
from suite.energy import ABSENT_REASON, EnergyMeter, work_per_joule
from suite.model import measurement
from tests.fixtures.sysfs_energy import (grace_power_meters, hwmon_chip,
                                         intel_two_socket, powercap_zone)


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _meter(root, clock=None):
    return EnergyMeter(root=str(root), interval_s=None, clock=clock or FakeClock())


def test_machine_without_sensors_says_so(tmp_path):
    reading = _meter(tmp_path).start().stop()
    assert reading == {"available": False, "reason": ABSENT_REASON}


def test_rapl_packages_and_dram_make_the_total(tmp_path):
    p = intel_two_socket(tmp_path)
    meter = _meter(tmp_path).start()
    p["package-0"].write_text("11000000\n")  # +10 J
    p["package-0/core"].write_text("5500000\n")  # +5 J, inside package-0
    p["package-0/dram"].write_text("2200000\n")  # +2 J
    p["package-1"].write_text("6000000\n")  # +3 J
    p["package-1/dram"].write_text("1100000\n")  # +1 J
    r = meter.stop()
    assert r["available"] is True
    assert r["joules"]["package-0"] == pytest.approx(10.0)
    assert r["joules"]["package-0/core"] == pytest.approx(5.0)
    assert r["total_joules"] == pytest.approx(16.0)
    assert sorted(r["total_from"]) == ["package-0", "package-0/dram", "package-1",
                                       "package-1/dram"]
    # The mmio zone repeats package-0 and is not counted twice.
    assert len([s for s in r["sources"] if s["label"] == "package-0"]) == 1


def test_rapl_counter_wraparound(tmp_path):
    path = powercap_zone(tmp_path, "intel-rapl:0", "package-0", 900_000, max_range_uj=1_000_000)
    meter = _meter(tmp_path).start()
    path.write_text("400000\n")  # wrapped once: +0.5 J
    meter.sample()
    path.write_text("300000\n")  # wrapped again: +0.9 J
    r = meter.stop()
    assert r["total_joules"] == pytest.approx(1.4)
    assert r["sources"][0]["wraps"] == 2


def test_counter_going_backwards_without_range_is_dropped(tmp_path):
    hw = hwmon_chip(tmp_path, 0, "amd_energy", {"energy1_input": (5_000_000, "Esocket0", "label")})
    meter = _meter(tmp_path).start()
    hw["energy1_input"].write_text("1000\n")
    r = meter.stop()
    assert r["available"] is False
    assert "went backwards" in r["reason"]


def test_grace_power_meters_are_integrated(tmp_path):
    paths = grace_power_meters(tmp_path, {
        "Grace Power Socket 0": 100, "CPU Power Socket 0": 60,
        "Grace Power Socket 1": 50, "Module Power Socket 0": 300,
    })
    clock = FakeClock()
    meter = _meter(tmp_path, clock).start()
    clock.t = 1.0
    paths["Grace Power Socket 0"].write_text("200000000\n")  # 200 W
    meter.sample()
    clock.t = 2.0
    r = meter.stop()
    # trapezoid: (100+200)/2 W x 1 s + 200 W x 1 s, plus 50 W x 2 s on socket 1
    assert r["joules"]["power_meter/Grace Power Socket 0"] == pytest.approx(350.0)
    assert r["total_joules"] == pytest.approx(450.0)
    assert sorted(r["total_from"]) == ["power_meter/Grace Power Socket 0",
                                       "power_meter/Grace Power Socket 1"]
    assert r["average_watts"] == pytest.approx(225.0)
    src = {s["label"]: s for s in r["sources"]}
    assert src["power_meter/Grace Power Socket 0"]["averaging_interval_s"] == 0.05


def test_amd_energy_hwmon_sockets_make_the_total(tmp_path):
    hw = hwmon_chip(tmp_path, 3, "amd_energy", {
        "energy1_input": (1_000_000, "Ecore000", "label"),
        "energy2_input": (9_000_000, "Esocket0", "label"),
    })
    meter = _meter(tmp_path).start()
    hw["energy1_input"].write_text("2000000\n")
    hw["energy2_input"].write_text("12000000\n")
    r = meter.stop()
    assert r["total_from"] == ["amd_energy/Esocket0"]
    assert r["total_joules"] == pytest.approx(3.0)


def test_powercap_wins_the_total_over_hwmon(tmp_path):
    powercap_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    hwmon_chip(tmp_path, 0, "amd_energy", {"energy1_input": (0, "Esocket0", "label")})
    r = _meter(tmp_path).start().stop()
    assert r["total_from"] == ["package-0"]


def test_present_but_unreadable_is_not_absent(tmp_path, monkeypatch):
    intel_two_socket(tmp_path)
    real = energy._read_int

    def deny(path):
        if path.endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(energy, "_read_int", deny)
    r = _meter(tmp_path).start().stop()
    assert r["available"] is False
    assert "present but not readable" in r["reason"]
    assert "permission denied" in r["reason"] and "CVE-2020-8694" in r["reason"]


def test_some_unreadable_sensors_are_listed(tmp_path, monkeypatch):
    p = intel_two_socket(tmp_path)
    real = energy._read_int
    blocked = str(p["package-1"])

    def deny(path):
        if path == blocked:
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(energy, "_read_int", deny)
    r = _meter(tmp_path).start().stop()
    assert r["available"] is True
    assert r["unreadable"] == {"package-1": "permission denied"}


def test_background_sampling_runs(tmp_path):
    powercap_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    import time
    meter = EnergyMeter(root=str(tmp_path), interval_s=0.01).start()
    time.sleep(0.05)
    r = meter.stop()
    assert r["sources"][0]["samples"] >= 3
    assert r["total_joules"] == 0.0


def test_work_per_joule_is_throughput_over_average_power():
    reading = {"available": True, "total_joules": 200.0, "seconds": 10.0,
               "average_watts": 20.0, "total_from": ["package-0"]}
    recs = [
        measurement("stream.triad", {"threads": 2}, "bandwidth", "GB/s", [10.0],
                    higher_is_better=True),
        measurement("compile.c", {}, "throughput", "compiles/s", [2.0], higher_is_better=True),
        measurement("tools.code_exec", {"concurrency": 4}, "latency_p99", "ms", [3.0],
                    higher_is_better=False),
    ]
    out = {r.metric: r for r in work_per_joule(recs, reading)}
    assert set(out) == {"gb_per_joule", "compiles_per_kj"}
    assert out["gb_per_joule"].value == pytest.approx(0.5)
    assert out["gb_per_joule"].unit == "GB/J"
    assert out["gb_per_joule"].params == {"threads": 2}
    assert out["compiles_per_kj"].value == pytest.approx(100.0)
    assert out["compiles_per_kj"].info["average_watts"] == 20.0


def test_work_per_joule_needs_a_reading():
    rec = measurement("db.point", {}, "throughput", "queries/s", [1.0], higher_is_better=True)
    assert work_per_joule([rec], {"available": False, "reason": "x"}) == []
    assert work_per_joule([rec], None) == []
