"""Profile-name grammar, canonical form and resolution against a device's profile list."""

import pytest
from reference_boards import A100_40GB, H100_80GB, RTX_PRO_6000, by_name

from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._profiles import canonical, parse, resolve


@pytest.mark.parametrize(
    "spelling,expected",
    [
        ("1g.10gb", "1g.10gb"),
        ("1g.10gb+me", "1g.10gb+me"),
        ("1g.24gb+me.all", "1g.24gb+me.all"),
        ("1g.24gb-me", "1g.24gb-me"),
        ("1g.24gb+gfx", "1g.24gb+gfx"),
        ("1c.3g.40gb", "1c.3g.40gb"),
        ("2c.4g.40gb", "2c.4g.40gb"),
        ("3c.3g.40gb", "3g.40gb"),
        ("MIG 1g.10gb", "1g.10gb"),
        ("mig 1C.3G.40GB", "1c.3g.40gb"),
        ("nvidia.com/mig-1g.10gb", "1g.10gb"),
        ("  7g.80gb ", "7g.80gb"),
        ("1g.0gb+gfx", "1g.0gb+gfx"),
        ("1g.24gb+me,gfx", "1g.24gb+me+gfx"),
    ],
)
def test_valid_names_canonicalise(spelling, expected):
    assert canonical(spelling) == expected


def test_parsed_fields():
    name = parse("2c.4g.40gb")
    assert (name.compute_slices, name.gpu_slices, name.memory_gb) == (2, 4, 40)
    assert name.is_compute_instance and name.gpu_instance_name == "4g.40gb"
    assert parse("1g.24gb+me.all").attributes == ("me.all",)
    assert parse("1g.24gb-me").sign == "-"


@pytest.mark.parametrize(
    "spelling,offending",
    [
        ("", "required"),
        ("3g", "expected"),
        ("g.10gb", "expected"),
        ("1g.10", "expected"),
        ("4c.3g.40gb", "4c"),
        ("0g.10gb", "0g"),
        ("0c.1g.10gb", "0c"),
        ("1g.10gb+me+me", "'me'"),
        ("1g.10gb+me-gfx", "mix"),
        ("1g.10gb+1x", "'1x'"),
        ("1g.10gb+m_e", "'m_e'"),
        ("1g.10gb+me.", "'me.'"),
        ("1g.10gb+", "''"),
        ("1g.10gbx", "'x'"),
    ],
)
def test_invalid_names_name_the_offending_part(spelling, offending):
    with pytest.raises(InputError) as error:
        parse(spelling)
    assert offending in str(error.value)
    assert error.value.option == "profile"


def test_non_string_is_refused():
    with pytest.raises(InputError):
        parse(None)


def test_resolve_maps_names_to_the_device_profile_and_default_compute_instance():
    gi, ci = resolve("3g.40gb", H100_80GB)
    assert gi.profile_id == 9 and ci.is_default and ci.slice_count == 3
    gi, ci = resolve("1c.3g.40gb", H100_80GB)
    assert gi.profile_id == 9 and ci.slice_count == 1
    gi, ci = resolve("MIG 1g.20gb", H100_80GB)
    assert gi.enum == 9 and ci.profile_id == 7  # REV2 GI: default CI is 1c REV1
    gi, _ci = resolve("1g.24gb+ME.ALL", RTX_PRO_6000)
    assert gi.profile_id == 65


def test_same_name_resolves_per_board():
    """1g.10gb is the REV2 profile on A100-40GB but the plain 1-slot one on H100."""
    assert resolve("1g.10gb", A100_40GB)[0].profile_id == 15
    assert resolve("1g.10gb", H100_80GB)[0].profile_id == 19


@pytest.mark.parametrize(
    "spelling,offending",
    [
        ("5g.40gb", "no 5g profile"),
        ("3g.39gb", "no 3g profile with 39gb (it has 3g.20gb)"),
        ("1g.5gb+gfx", "+gfx"),
        ("3c.4g.20gb", "no 3c compute-instance profile"),
    ],
)
def test_resolve_errors_list_the_valid_profiles_of_the_board(spelling, offending):
    with pytest.raises(InputError) as error:
        resolve(spelling, A100_40GB)
    assert offending in str(error.value)
    assert "7g.40gb" in error.value.valid and "1c.3g.20gb" in error.value.valid
    assert "1g.10gb+me" not in error.value.valid


def test_grammar_errors_during_resolve_also_list_the_board():
    with pytest.raises(InputError) as error:
        resolve("1g.5gb+me-x", A100_40GB, option="layout[0].profile")
    assert error.value.option == "layout[0].profile"
    assert by_name(A100_40GB, "1g.5gb+me").name in error.value.valid
