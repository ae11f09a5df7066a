"""Requirement-based selection per architecture, fabric use and sharing strategy."""

import pytest
from reference_boards import A30, A100_40GB, H100_80GB, RTX_PRO_6000

from ansible_collections.gpuops.mig.plugins.module_utils._capabilities import (
    ADA,
    AMPERE,
    BLACKWELL,
    HOPPER,
    capabilities_for,
)
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._placement import Desired, place
from ansible_collections.gpuops.mig.plugins.module_utils._selection import select


def chosen(profiles, requirements, architecture, **options):
    result = select(profiles, requirements, capabilities_for(architecture), **options)
    # Whatever is selected must be placeable on the GPU.
    place(profiles, [Desired(profile) for profile, count in result for _copy in range(count)])
    return [(profile.name, count) for profile, count in result]


def test_smallest_memory_footprint_that_satisfies_wins():
    assert chosen(H100_80GB, [{"memory_gb": 8}], HOPPER) == [("1g.10gb", 1)]
    assert chosen(A100_40GB, [{"memory_gb": 5}], AMPERE) == [("1g.5gb", 1)]
    assert chosen(H100_80GB, [{"memory_gb": 60}], HOPPER) == [("7g.80gb", 1)]


def test_ampere_prefers_two_to_four_slices_at_equal_memory():
    assert chosen(A100_40GB, [{"memory_gb": 10}], AMPERE) == [("2g.10gb", 1)]


def test_hopper_prefers_single_slice_profiles_with_fabric_partitions():
    assert chosen(H100_80GB, [{"memory_gb": 20}], HOPPER, uses_fabric_partitions=True) == [("1g.20gb", 1)]
    assert chosen(H100_80GB, [{"memory_gb": 20}], HOPPER) == [("2g.20gb", 1)]
    assert chosen(H100_80GB, [{"memory_gb": 40}], HOPPER, uses_fabric_partitions=True) == [("3g.40gb", 1)]
    assert chosen(H100_80GB, [{"memory_gb": 40}], HOPPER) == [("4g.40gb", 1)]


def test_ampere_ignores_fabric_partitions_for_the_slice_preference():
    assert chosen(A100_40GB, [{"memory_gb": 10}], AMPERE, uses_fabric_partitions=True) == [("2g.10gb", 1)]


@pytest.mark.parametrize("architecture", [HOPPER, AMPERE])
def test_time_slicing_prefers_smaller_and_mps_larger_profiles(architecture):
    profiles = H100_80GB if architecture == HOPPER else A100_40GB
    memory = 20 if architecture == HOPPER else 10
    small = chosen(profiles, [{"memory_gb": memory}], architecture, sharing_strategy="time-slicing")
    large = chosen(profiles, [{"memory_gb": memory}], architecture, sharing_strategy="mps")
    assert small[0][0].startswith("1g.") and large[0][0].startswith("2g.")


def test_compute_slices_and_media_engines_are_hard_requirements():
    assert chosen(H100_80GB, [{"memory_gb": 5, "compute_slices": 2}], HOPPER) == [("2g.20gb", 1)]
    assert chosen(H100_80GB, [{"compute_slices": 5}], HOPPER) == [("7g.80gb", 1)]
    assert chosen(A100_40GB, [{"memory_gb": 5, "media_engines": True}], AMPERE) == [("1g.5gb+me", 1)]
    assert chosen(A30, [{"memory_gb": 12, "media_engines": True}], AMPERE) == [("2g.12gb+me", 1)]


def test_without_media_engines_the_single_ofa_is_not_spent():
    assert chosen(RTX_PRO_6000, [{"memory_gb": 24}], BLACKWELL) == [("1g.24gb", 1)]
    assert chosen(RTX_PRO_6000, [{"memory_gb": 24, "count": 4}], BLACKWELL) == [("1g.24gb", 4)]


def test_items_are_combined_into_a_layout_that_fits():
    result = chosen(A100_40GB, [{"memory_gb": 10, "count": 3}, {"memory_gb": 10}], AMPERE)
    assert sum(count for _name, count in result) == 4
    # Four 10 GB instances do not fit as 2g.10gb (max 3): the combination falls back.
    assert chosen(A100_40GB, [{"memory_gb": 10, "count": 4}], AMPERE) == [("1g.10gb", 4)]
    assert chosen(A100_40GB, [{"memory_gb": 5, "media_engines": True}, {"memory_gb": 5, "count": 6}], AMPERE) == [
        ("1g.5gb+me", 1),
        ("1g.5gb", 6),
    ]


def test_impossible_memory_names_the_closest_profile():
    with pytest.raises(InputError) as error:
        select(H100_80GB, [{"memory_gb": 100}], capabilities_for(HOPPER))
    assert "closest: 7g.80gb" in str(error.value)
    assert error.value.option == "requirements[0]"


def test_impossible_combination_names_the_closest_feasible_layout():
    with pytest.raises(InputError) as error:
        select(A100_40GB, [{"memory_gb": 20, "count": 3}], capabilities_for(AMPERE))
    assert "closest feasible: 3g.20gb x2" in str(error.value)
    with pytest.raises(InputError) as error:
        select(A100_40GB, [{"memory_gb": 5, "media_engines": True, "count": 2}], capabilities_for(AMPERE))
    assert "closest feasible: 1g.5gb+me x1" in str(error.value)


@pytest.mark.parametrize(
    "requirement,option",
    [
        ({"memory": 10}, "requirements[0]"),
        ({"memory_gb": -1}, "requirements[0].memory_gb"),
        ({"count": 0}, "requirements[0].count"),
        ({"compute_slices": "two"}, "requirements[0].compute_slices"),
        ({"media_engines": "yes"}, "requirements[0].media_engines"),
        ("10gb", "requirements[0]"),
    ],
)
def test_bad_requirements_fail_naming_the_option(requirement, option):
    with pytest.raises(InputError) as error:
        select(H100_80GB, [requirement], capabilities_for(HOPPER))
    assert error.value.option == option


def test_bad_sharing_strategy_and_non_mig_architecture_are_refused():
    with pytest.raises(InputError) as error:
        select(H100_80GB, [{}], capabilities_for(HOPPER), sharing_strategy="vgpu")
    assert error.value.valid == ["none", "time-slicing", "mps"]
    with pytest.raises(InputError):
        select(H100_80GB, [{}], capabilities_for(ADA))


def test_named_compute_slices_get_the_exact_class_not_more():
    # 3g.40gb and 4g.40gb take the same memory slots; a "3g-class" item must not take the 4g
    # (only one 4g fits, two 3g do), while a memory-only item gets the most compute.
    assert chosen(H100_80GB, [{"memory_gb": 40, "compute_slices": 3, "count": 2}], HOPPER) == [("3g.40gb", 2)]
    assert chosen(H100_80GB, [{"memory_gb": 40}], HOPPER) == [("4g.40gb", 1)]
