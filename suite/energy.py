"""Energy over a benchmark window, from the counters the machine exposes.

Two Linux interfaces carry CPU energy:

* powercap RAPL zones (`/sys/class/powercap/<zone>/energy_uj`), Intel and
  AMD: a microjoule counter that wraps at `max_energy_range_uj`;
* hwmon sensors (`/sys/class/hwmon/hwmon*/`): `energy<N>_input` counters in
  microjoules (amd_energy) and `power<N>_input` / `power<N>_average` in
  microwatts (ACPI power meters, which is how Arm servers such as Grace
  expose socket power). Power is integrated over time by sampling.

The meter samples every counter in a background thread (about 10 Hz) so a
counter that wraps more than once, or a power reading that changes, is
followed through the window. A machine without counters (virtual machines)
gives `{"available": False, "reason": ...}`, never a number.

The counters measure whole packages: every process on them, not only the
benchmark. Readings are therefore honest only on an otherwise idle machine.
"""
from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from suite import meaning
from suite.model import Record, measurement

POWERCAP_DIR = "sys/class/powercap"
HWMON_DIR = "sys/class/hwmon"

ABSENT_REASON = ("no powercap or hwmon energy/power sensors under /sys "
                 "(typical of virtual machines)")
# Since Linux 5.10 powercap energy_uj is readable by root only, because the
# counter leaks information about what other processes compute (CVE-2020-8694).
PERMISSION_HINT = ("powercap energy_uj is root-only since Linux 5.10 (CVE-2020-8694); "
                   "run as root or grant read access")

# Which hwmon sensors add up to the CPU's total, most specific first. Grace
# power meters report "Grace Power Socket N" (CPU + memory + SoC rails of one
# socket) beside its parts ("CPU Power Socket N", "SysIO Power Socket N") and
# the whole module; amd_energy reports "EsocketN" beside per-core "EcoreNNN".
HWMON_TOTAL_LABELS = (
    re.compile(r"^grace power socket", re.I),
    re.compile(r"^esocket\d+$", re.I),
    re.compile(r"\b(package|socket)\b", re.I),
)


@dataclass
class _Sensor:
    label: str
    path: str
    kind: str  # "energy" (counter, µJ) | "power" (µW)
    origin: str  # "powercap" | "hwmon"
    max_range_uj: int | None = None  # wrap point of a powercap counter
    in_total: bool = False
    # running state
    last: int | None = None
    last_t: float | None = None
    joules: float = 0.0
    wraps: int = 0
    samples: int = 0
    failed: str | None = None
    extra: dict = field(default_factory=dict)


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _read_int(path: str) -> int:
    return int(_read_text(path))


def _read_optional(path: str) -> str | None:
    try:
        return _read_text(path)
    except (OSError, ValueError):
        return None


# -- discovery ----------------------------------------------------------------
def _entries(base: str) -> list:
    """Sorted names in `base`; none when it is absent or unreadable."""
    try:
        return sorted(os.listdir(base))
    except OSError:
        return []


def _powercap_sensors(root: str) -> list:
    base = os.path.join(root, POWERCAP_DIR)
    zones = _entries(base)
    names: dict = {}
    for zone in zones:
        name = _read_optional(os.path.join(base, zone, "name"))
        if name is not None:
            names[zone] = name
    sensors: list = []
    for zone in zones:
        path = os.path.join(base, zone, "energy_uj")
        if not os.path.exists(path) or zone not in names:
            continue
        parts = zone.split(":")  # intel-rapl:0:1 -> subzone 1 of package zone 0
        label = names[zone]
        if len(parts) > 2:
            label = names.get(":".join(parts[:2]), parts[0] + ":" + parts[1]) + "/" + label
        max_range = _read_optional(os.path.join(base, zone, "max_energy_range_uj"))
        sensors.append(_Sensor(label=label, path=path, kind="energy", origin="powercap",
                               max_range_uj=int(max_range) if max_range else None,
                               extra={"zone": zone}))
    # intel-rapl-mmio repeats the package zone of the MSR interface: keep one.
    msr_labels = {s.label for s in sensors if not s.extra["zone"].startswith("intel-rapl-mmio")}
    sensors = [s for s in sensors
               if not (s.extra["zone"].startswith("intel-rapl-mmio") and s.label in msr_labels)]
    # Package zones hold cores and uncore; the RAPL DRAM domain is separate
    # from PKG even when listed under it. psys covers the packages too, so it
    # only counts when nothing else does.
    for s in sensors:
        leaf = s.label.rsplit("/", 1)[-1]
        s.in_total = ("/" not in s.label and leaf.startswith("package")) or leaf == "dram"
    if not any(s.in_total for s in sensors):
        for s in sensors:
            s.in_total = s.label == "psys"
    return sensors


_HWMON_FILE = re.compile(r"^(energy|power)(\d+)_(input|average)$")


def _hwmon_sensors(root: str) -> list:
    base = os.path.join(root, HWMON_DIR)
    chips = _entries(base)
    sensors: list = []
    for chip in chips:
        cdir = os.path.join(base, chip)
        chip_name = _read_optional(os.path.join(cdir, "name")) or chip
        try:
            files = sorted(os.listdir(cdir))
        except OSError:
            continue
        found: dict = {}
        for fname in files:
            m = _HWMON_FILE.match(fname)
            if not m or (m.group(1) == "energy" and m.group(3) != "input"):
                continue
            key = (m.group(1), m.group(2))
            # A power meter may offer both; the instantaneous input is finer.
            if key not in found or m.group(3) == "input":
                found[key] = fname
        for (kind, n), fname in sorted(found.items()):
            label = (_read_optional(os.path.join(cdir, f"{kind}{n}_label"))
                     or _read_optional(os.path.join(cdir, f"{kind}{n}_oem_info"))
                     or f"{kind}{n}")
            extra = {"chip": chip_name}
            interval = _read_optional(os.path.join(cdir, f"{kind}{n}_average_interval"))
            if fname.endswith("_average") and interval:
                extra["averaging_interval_s"] = int(interval) / 1000.0
            sensors.append(_Sensor(label=f"{chip_name}/{label}", path=os.path.join(cdir, fname),
                                   kind=kind, origin="hwmon", extra=extra))
    return sensors


def _mark_hwmon_total(sensors: list) -> None:
    for pattern in HWMON_TOTAL_LABELS:
        hits = [s for s in sensors if pattern.search(s.label.split("/", 1)[-1])]
        if hits:
            for s in hits:
                s.in_total = True
            return
    if len(sensors) == 1:
        sensors[0].in_total = True


def discover(root: str = "/") -> list:
    """Every energy/power sensor under `root`, with `in_total` marking the
    ones that add up to the CPU total. hwmon only counts towards the total
    when powercap has nothing (on AMD both can show the same package)."""
    cap = _powercap_sensors(root)
    hw = _hwmon_sensors(root)
    if not any(s.in_total for s in cap):
        _mark_hwmon_total(hw)
    return cap + hw


# -- metering -----------------------------------------------------------------
class EnergyMeter:
    """Integrate energy over a window.

    >>> meter = EnergyMeter(root="/"); meter.start(); ...; reading = meter.stop()

    `interval_s=None` samples only at start, stop and explicit `sample()`
    calls (used by tests); `clock` is injectable for the same reason.
    """

    def __init__(self, root: str = "/", interval_s: float | None = 0.1,
                 clock: Callable[[], float] = time.monotonic):
        self.root = root
        self.interval_s = interval_s
        self.clock = clock
        self._sensors: list = []
        self._unreadable: list = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._t0: float | None = None

    def start(self) -> "EnergyMeter":
        if self._t0 is not None:
            raise RuntimeError("energy meter already started")
        self._sensors = discover(self.root)
        self._t0 = self.clock()
        self.sample()
        # Sensors unreadable from the first read are reported, not integrated.
        self._unreadable = [s for s in self._sensors if s.failed]
        self._sensors = [s for s in self._sensors if not s.failed]
        if self._sensors and self.interval_s:
            self._thread = threading.Thread(target=self._run, name="energy-meter", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        """Read every sensor once and fold the change since the last read."""
        with self._lock:
            now = self.clock()
            for s in self._sensors:
                if s.failed:
                    continue
                try:
                    value = _read_int(s.path)
                except PermissionError:
                    s.failed = "permission denied"
                    continue
                except (OSError, ValueError) as exc:
                    s.failed = f"unreadable: {exc}"
                    continue
                _fold(s, value, now)

    def stop(self) -> dict:
        if self._t0 is None:
            raise RuntimeError("energy meter not started")
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        self.sample()
        return self._reading(self.clock() - self._t0)

    def _reading(self, seconds: float) -> dict:
        if not self._sensors:
            return {"available": False, "reason": self._absence_reason()}
        good = [s for s in self._sensors if not s.failed and s.samples >= 2]
        dropped = {s.label: s.failed for s in self._sensors if s.failed}
        if not good:
            return {"available": False,
                    "reason": "energy sensors stopped reading during the window: "
                              + "; ".join(f"{k}: {v}" for k, v in dropped.items())}
        totals = [s for s in good if s.in_total]
        total = math.fsum(s.joules for s in totals) if totals else None
        out = {
            "available": True,
            "joules": {s.label: round(s.joules, 6) for s in good},
            "total_joules": None if total is None else round(total, 6),
            "total_from": [s.label for s in totals],
            "seconds": round(seconds, 6),
            "average_watts": (round(total / seconds, 3)
                              if total is not None and seconds > 0 else None),
            "scope": "whole packages: every process on them, not only the benchmark",
            "sources": [_describe(s) for s in good],
        }
        if total is None:
            out["total_note"] = "several overlapping sensors and no rule for which add up; " \
                                "see joules per sensor"
        if dropped:
            out["dropped"] = dropped
        if self._unreadable:
            out["unreadable"] = {s.label: s.failed for s in self._unreadable}
        return out

    def _absence_reason(self) -> str:
        if not self._unreadable:
            return ABSENT_REASON
        first = self._unreadable[0]
        reason = f"energy sensors present but not readable: {first.path}: {first.failed}"
        if first.failed == "permission denied" and first.origin == "powercap":
            reason += f" ({PERMISSION_HINT})"
        if len(self._unreadable) > 1:
            reason += f" (and {len(self._unreadable) - 1} more)"
        return reason


def _fold(s: _Sensor, value: int, now: float) -> None:
    if s.last is not None:
        if s.kind == "energy":
            delta = value - s.last
            if delta < 0:
                if not s.max_range_uj:
                    s.failed = "counter went backwards and has no wrap range"
                    return
                # The counter restarted from zero after max_energy_range_uj.
                delta += s.max_range_uj
                s.wraps += 1
            s.joules += delta / 1e6
        else:  # power in µW: trapezoid between consecutive readings
            s.joules += (value + s.last) / 2.0 / 1e6 * (now - s.last_t)
    s.last, s.last_t = value, now
    s.samples += 1


def _describe(s: _Sensor) -> dict:
    d = {"label": s.label, "origin": s.origin, "kind": s.kind, "path": s.path,
         "samples": s.samples, "in_total": s.in_total}
    if s.kind == "energy" and s.origin == "powercap":
        d["wraps"] = s.wraps
    d.update(s.extra)
    return d


# -- work per joule -------------------------------------------------------------
WORK_PER_JOULE_BASIS = ("throughput / average power over the benchmark child's window "
                        "(total joules / seconds); the window includes start-up, so "
                        "power is averaged over more than the timed repetitions")


def work_per_joule(records: Iterable[Record], reading: Mapping | None,
                   works: Mapping | None = None) -> list:
    """Work-per-energy records for the rate records of one window that
    their specs declare as work (`works`: suite.meaning.works(), default
    the registry's).

    Defined as throughput divided by the window's average power: units/s
    over J/s is units per joule. This is the work the configuration does
    per joule at its measured rate; it needs no knowledge of how many units
    the child completed. Returns [] when the reading has no total.
    """
    if not reading or not reading.get("available"):
        return []
    watts = reading.get("average_watts")
    if not watts or watts <= 0:
        return []
    works = meaning.works() if works is None else works
    out: list = []
    for r in records:
        work = meaning.work_for(r, works)
        if work is None or r.value is None:
            continue
        out.append(measurement(
            r.benchmark, r.params, work.per_joule, work.per_joule_unit, (),
            higher_is_better=True,
            value=r.value / watts * work.per_joule_scale,
            validated=r.validated,
            info={"derived_from": r.metric, "source_value": r.value,
                  "source_unit": r.unit, "average_watts": watts,
                  "energy_seconds": reading.get("seconds"),
                  "energy_sources": list(reading.get("total_from") or ()),
                  "basis": WORK_PER_JOULE_BASIS},
        ))
    return out
