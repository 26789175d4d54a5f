"""BenchmarkOptions: the typed benchmark options of a run."""
import dataclasses
import json

import pytest

from suite.options import DEFAULT_SEED, DEFAULTS, BenchmarkOptions, OptionsError
from suite.spec import PROFILES, Job, PlanContext


def test_defaults_are_the_cli_defaults():
    assert DEFAULTS.seed == DEFAULT_SEED == 1
    assert (DEFAULTS.slo_ms, DEFAULTS.inference_ms) == (250.0, 100.0)
    assert DEFAULTS.build == "make -j{jobs}"
    assert DEFAULTS.allow_unisolated is False
    assert DEFAULTS.array_mib is None and DEFAULTS.db_url is None


def test_round_trip_through_json():
    options = BenchmarkOptions(array_mib=64.0, stride=128, bind="close", seed=7,
                               db_dir="/tmp/db", allow_unisolated=True)
    stored = json.loads(json.dumps(options.to_dict()))
    assert BenchmarkOptions.from_dict(stored) == options


def test_to_dict_leaves_unset_options_out():
    stored = BenchmarkOptions(rate=5.0).to_dict()
    assert "array_mib" not in stored and "db_url" not in stored
    assert stored["rate"] == 5.0 and stored["seed"] == DEFAULT_SEED
    assert stored["allow_unisolated"] is False  # False is set, not unset


def test_none_in_a_stored_mapping_means_the_default():
    assert BenchmarkOptions.from_dict({"seed": None, "slo_ms": None}) == DEFAULTS


def test_unknown_key_is_refused_with_one_clear_line():
    with pytest.raises(OptionsError) as exc:
        BenchmarkOptions.from_dict({"seed": 3, "arraymib": 64})
    message = str(exc.value)
    assert "\n" not in message
    assert "'arraymib'" in message and "array_mib" in message


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULTS.seed = 2


def test_read_only_mapping_view():
    options = BenchmarkOptions(rate=5.0)
    assert options["rate"] == 5.0 and options.get("rate") == 5.0
    assert options.get("array_mib") is None and options.get("nope", 3) == 3
    assert "seed" in options and "nope" not in options
    assert set(options) == {f.name for f in dataclasses.fields(BenchmarkOptions)}
    assert len(options) == len(dataclasses.fields(BenchmarkOptions))
    with pytest.raises(KeyError):
        options["nope"]


def test_plan_context_and_job_carry_the_type():
    """A mapping given by older code becomes the typed record."""
    ctx = PlanContext(PROFILES["quick"], {}, {"seed": 5})
    assert isinstance(ctx.options, BenchmarkOptions) and ctx.options.seed == 5
    job = Job("x.y", {}, PROFILES["quick"], {}, BenchmarkOptions(seed=9), 60.0)
    again = Job.from_dict(json.loads(json.dumps(job.to_dict())))
    assert again.options == job.options and again.options.seed == 9
