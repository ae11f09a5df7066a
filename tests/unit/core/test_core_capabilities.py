"""Architecture capabilities keyed on NVML architecture ids."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _capabilities
from ansible_collections.gpuops.mig.plugins.module_utils._capabilities import (
    AMPERE,
    BLACKWELL,
    HOPPER,
    architecture_name,
    capabilities_for,
)


def test_ampere_needs_a_reset_and_keeps_mig_out_of_multi_gpu_partitions():
    caps = capabilities_for(AMPERE)
    assert caps.name == "ampere" and caps.mig_supported
    assert caps.mig_mode_change_requires_reset
    assert not caps.mig_allowed_in_multi_gpu_partitions
    assert not caps.fabric_partition_ids_are_module_ids
    assert not caps.prefers_single_slice_with_fabric
    assert caps.preferred_slice_range == (2, 4)


@pytest.mark.parametrize("architecture", [HOPPER, BLACKWELL])
def test_hopper_and_later_change_mode_without_reset_and_mix_mig_with_partitions(architecture):
    caps = capabilities_for(architecture)
    assert caps.mig_supported and not caps.mig_mode_change_requires_reset
    assert caps.mig_allowed_in_multi_gpu_partitions and caps.fabric_partition_ids_are_module_ids
    assert caps.prefers_single_slice_with_fabric
    assert caps.assumed_from is None


def test_media_engine_variants_grow_with_blackwell():
    assert capabilities_for(AMPERE).media_engine_profile_variants == ("+me",)
    assert "+me.all" in capabilities_for(BLACKWELL).media_engine_profile_variants


@pytest.mark.parametrize("architecture", [2, 5, 6, 8])
def test_older_architectures_and_ada_have_no_mig(architecture):
    caps = capabilities_for(architecture)
    assert not caps.mig_supported and not caps.mig_mode_change_requires_reset
    assert caps.name == architecture_name(architecture)


@pytest.mark.parametrize("architecture", [13, 42, 0xFFFFFFFF])
def test_unknown_newer_architectures_behave_like_the_newest_known(architecture):
    caps = capabilities_for(architecture)
    newest = capabilities_for(BLACKWELL)
    assert caps.assumed_from == "blackwell"
    assert caps._replace(architecture=BLACKWELL, name="blackwell", assumed_from=None) == newest


def test_names():
    assert architecture_name(HOPPER) == "hopper"
    assert architecture_name(13) == "rubin"
    assert architecture_name(11) == "arch11"
    assert architecture_name("9") == "hopper"
    assert architecture_name(None) == "unknown"


def test_adding_an_architecture_is_a_data_change(monkeypatch):
    row = dict(_capabilities._ROWS[-1][1], preferred_slice_range=(1, 2))
    monkeypatch.setattr(_capabilities, "_ROWS", _capabilities._ROWS + ((13, row),))
    caps = capabilities_for(13)
    assert caps.name == "rubin" and caps.assumed_from is None and caps.preferred_slice_range == (1, 2)
    assert capabilities_for(20).assumed_from == "rubin"
