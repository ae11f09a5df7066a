"""CDI kind and device names follow the reference parser (pkg/parser/parser.go), and every
naming strategy gives the names nvidia-ctk gives."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from cdi_hosts import dgx_h100_mixed, driver_mig_minors, h100, mig


@pytest.mark.parametrize("kind", ["nvidia.com/gpu", "example.com/device", "a/b", "v_1-x.y/c.l-a_ss2", "Nvidia.COM/GPU"])
def test_valid_kinds_are_accepted(kind):
    assert _cdi.check_kind(kind) == kind


@pytest.mark.parametrize(
    "kind, complaint",
    [
        ("nvidia.com", "vendor/class"),
        ("/gpu", "vendor/class"),
        ("nvidia.com/", "vendor/class"),
        ("1nvidia.com/gpu", "start with a letter"),
        ("nvidia.com/2gpu", "start with a letter"),
        ("nvidia.com-/gpu", "end with a letter or digit"),
        ("nvidia.com/gpu_", "end with a letter or digit"),
        ("nvidia.com/g pu", "invalid character"),
        ("nvidia.com/gpu/mig", "invalid character '/'"),
        ("nvidia:com/gpu", "invalid character ':'"),
    ],
)
def test_invalid_kinds_fail_naming_the_option(kind, complaint):
    with pytest.raises(InputError) as raised:
        _cdi.check_kind(kind)
    assert raised.value.option == "kind"
    assert complaint in str(raised.value)
    assert repr(kind) in str(raised.value)


@pytest.mark.parametrize("name", ["0", "0:1", "12:3", "mig0:1", "gpu7", "GPU-8a2e-11", "MIG-1f.2_a", "a", "all"])
def test_valid_device_names(name):
    assert _cdi.device_name_problem(name) is None


@pytest.mark.parametrize("name", ["", ":0", "0:", "-a", "a-", "a b", "a/b", "a=b", "gpu0\n"])
def test_invalid_device_names(name):
    assert _cdi.device_name_problem(name)


def test_unknown_strategy_lists_the_valid_ones():
    with pytest.raises(InputError) as raised:
        _cdi.check_name_strategies(["index", "serial"])
    assert raised.value.option == "device_name_strategies"
    assert raised.value.valid == ["index", "uuid", "type-index"]
    assert "'serial'" in str(raised.value)


def test_no_strategy_is_an_error_and_duplicates_are_dropped():
    with pytest.raises(InputError):
        _cdi.check_name_strategies([])
    assert _cdi.check_name_strategies(["uuid", "index", "uuid"]) == ("uuid", "index")


def _names(strategies, gpus, migs):
    spec = _cdi.build_spec(gpus, migs, strategies=strategies, mig_minors=_cdi.parse_mig_minors(driver_mig_minors()))
    return _cdi.device_names(spec)


def test_each_strategy_names_gpus_and_mig_devices_like_nvidia_ctk():
    gpus = [h100(0, mig=True), h100(1)]
    migs = [mig(0, 0, 3, 0, "2g.20gb", 19968), mig(0, 1, 5, 0, "2g.20gb", 19968)]
    assert _names(["index"], gpus, migs) == ["0:0", "0:1", "1", "all"]
    assert _names(["type-index"], gpus, migs) == ["mig0:0", "mig0:1", "gpu1", "all"]
    assert _names(["uuid"], gpus, migs) == [migs[0].uuid, migs[1].uuid, gpus[1].uuid, "all"]


def test_default_strategies_give_every_device_an_index_and_a_uuid_name():
    gpus, migs = dgx_h100_mixed()
    names = _names(_cdi.DEFAULT_NAME_STRATEGIES, gpus, migs)
    assert names[:4] == ["0:0", migs[0].uuid, "0:1", migs[1].uuid]
    assert len(names) == 2 * (len(migs) + 5) + 1
    assert len(set(names)) == len(names)


def test_mig_index_is_the_position_on_the_parent_not_a_gi_or_ci_id():
    gpus = [h100(0), h100(1), h100(2), h100(3, mig=True)]
    migs = [mig(3, 1, 13, 0, "1g.10gb", 9728), mig(3, 0, 2, 0, "3g.40gb", 40192)]
    assert _names(["index"], gpus, migs) == ["0", "1", "2", "3:0", "3:1", "all"]
