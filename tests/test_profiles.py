"""Every benchmark's profile table has a row for every profile, so adding a
profile is one row per table and a table that lacks it fails here."""
import pytest

from suite.spec import PROFILES, profile_row, registry, timeout_for


@pytest.mark.parametrize("spec", registry(), ids=lambda s: s.id)
def test_every_profile_has_a_row(spec):
    assert spec.profile_table, f"{spec.id} declares no profile table"
    for name in PROFILES:
        profile_row(spec.profile_table, name)
        assert timeout_for(spec, name) > 0
    assert spec.profiles <= set(PROFILES)


def test_a_missing_row_names_the_profile():
    with pytest.raises(KeyError, match="'smoke' has no row.*quick"):
        profile_row({"quick": 1}, "smoke")
