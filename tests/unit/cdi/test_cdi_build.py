"""What goes into a generated spec: which devices, which nodes, which minors, which version."""

import os

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi
from cdi_hosts import dgx_h100_full, dgx_h100_mixed, h100, mig


def _by_name(spec):
    return dict((device["name"], device["containerEdits"]["deviceNodes"]) for device in spec["devices"])


def _paths(nodes):
    return [node["path"] for node in nodes]


def _minor_of(text, capability):
    """The minor the mig-minors text gives ``capability`` (read from the text itself)."""
    for line in text.splitlines():
        name, dummy, minor = line.partition(" ")
        if name == capability:
            return int(minor)
    raise AssertionError("%s not in mig-minors" % capability)


def test_gpus_in_mig_mode_expose_only_their_mig_devices(mig_minors_text):
    gpus, migs = dgx_h100_mixed()
    spec = _cdi.build_spec(gpus, migs, strategies=["index"], mig_minors=_cdi.parse_mig_minors(mig_minors_text))
    names = _cdi.device_names(spec)
    assert names == ["0:0", "0:1", "0:2", "0:3", "1:0", "1:1", "3", "4", "5", "6", "7", "all"]


def test_mig_device_gets_parent_gi_and_ci_capability_nodes_from_the_file(mig_minors_text):
    gpus, migs = dgx_h100_mixed()
    devices = _by_name(
        _cdi.build_spec(gpus, migs, strategies=["index"], mig_minors=_cdi.parse_mig_minors(mig_minors_text))
    )
    for device in migs:
        gi = _minor_of(mig_minors_text, "gpu%d/gi%d/access" % (device.gpu_index, device.gi_id))
        ci = _minor_of(mig_minors_text, "gpu%d/gi%d/ci%d/access" % (device.gpu_index, device.gi_id, device.ci_id))
        assert _paths(devices["%d:%d" % (device.gpu_index, device.mig_index)]) == [
            "/dev/nvidia%d" % device.gpu_index,
            "/dev/nvidia-caps/nvidia-cap%d" % gi,
            "/dev/nvidia-caps/nvidia-cap%d" % ci,
        ]
    # two compute instances of one GPU instance share the GI node, not the CI node
    assert devices["1:0"][1] == devices["1:1"][1]
    assert devices["1:0"][2] != devices["1:1"][2]


def test_reference_example_gi1_ci0_on_gpu0_uses_caps_12_and_13(mig_minors_text):
    spec = _cdi.build_spec(
        [h100(0, mig=True)],
        [mig(0, 0, 1, 0, "1g.10gb", 9728)],
        strategies=["index"],
        mig_minors=_cdi.parse_mig_minors(mig_minors_text),
    )
    assert _paths(_by_name(spec)["0:0"]) == [
        "/dev/nvidia0",
        "/dev/nvidia-caps/nvidia-cap12",
        "/dev/nvidia-caps/nvidia-cap13",
    ]


def test_device_nodes_and_capabilities_follow_the_gpu_minor_not_its_index():
    gpu = h100(0, mig=True, minor=5)
    minors = _cdi.parse_mig_minors(
        "gpu0/gi2/access 21\ngpu0/gi2/ci0/access 22\ngpu5/gi2/access 700\ngpu5/gi2/ci0/access 701\n"
    )
    spec = _cdi.build_spec(
        [gpu, h100(1, minor=2)], [mig(0, 0, 2, 0, "3g.40gb", 40192)], strategies=["index"], mig_minors=minors
    )
    devices = _by_name(spec)
    assert _paths(devices["0:0"]) == [
        "/dev/nvidia5",
        "/dev/nvidia-caps/nvidia-cap700",
        "/dev/nvidia-caps/nvidia-cap701",
    ]
    assert _paths(devices["1"]) == ["/dev/nvidia2"]


def test_minors_come_from_the_file_even_when_they_differ_from_the_driver_formula():
    minors = _cdi.parse_mig_minors("config 1\nmonitor 2\ngpu0/gi7/access 40\ngpu0/gi7/ci0/access 41\n")
    spec = _cdi.build_spec(
        [h100(0, mig=True)], [mig(0, 0, 7, 0, "1g.10gb", 9728)], strategies=["index"], mig_minors=minors
    )
    assert _paths(_by_name(spec)["0:0"])[1:] == ["/dev/nvidia-caps/nvidia-cap40", "/dev/nvidia-caps/nvidia-cap41"]


def test_missing_mig_minors_file_with_mig_devices_is_a_clear_error(tmp_path):
    gpus, migs = dgx_h100_mixed()
    missing = str(tmp_path / "mig-minors")
    assert _cdi.read_mig_minors(missing) is None
    with pytest.raises(_cdi.CdiError) as raised:
        _cdi.build_spec(gpus, migs, mig_minors=_cdi.read_mig_minors(missing), mig_minors_path=missing)
    assert missing in str(raised.value)
    assert "does not exist" in str(raised.value)
    assert raised.value.details()["path"] == missing


def test_full_gpus_need_no_mig_minors_file():
    gpus, migs = dgx_h100_full()
    assert _cdi.device_names(_cdi.build_spec(gpus, migs, strategies=["index"], mig_minors=None))[-1] == "all"


def test_mig_device_without_its_capability_line_is_an_error():
    minors = _cdi.parse_mig_minors("gpu0/gi2/access 21\n")
    with pytest.raises(_cdi.CdiError) as raised:
        _cdi.build_spec([h100(0, mig=True)], [mig(0, 0, 2, 0, "3g.40gb", 40192)], mig_minors=minors)
    assert "gpu0/gi2/ci0/access" in str(raised.value)


def test_mig_minors_parser_keeps_only_well_formed_capability_lines():
    text = (
        "config 1\nmonitor 2\ngpu0/gi1/access 12\ngpu0/gi1/ci0/access 13\n"
        "gpu0/gi2/access  21\nfabric-mgmt 0\ngpu0/gi3 30\nnonsense\n\ngpu1/gi0/ci9/access x\n"
    )
    assert _cdi.parse_mig_minors(text) == {"config": 1, "monitor": 2, "gpu0/gi1/access": 12, "gpu0/gi1/ci0/access": 13}


def test_all_device_holds_every_node_once(mig_minors_text):
    gpus, migs = dgx_h100_mixed()
    spec = _cdi.build_spec(gpus, migs, mig_minors=_cdi.parse_mig_minors(mig_minors_text))
    devices = _by_name(spec)
    every = set(path for name, nodes in devices.items() if name != "all" for path in _paths(nodes))
    assert sorted(_paths(devices["all"])) == sorted(every)
    assert len(_paths(devices["all"])) == len(every)


def test_only_control_nodes_present_under_dev_root_are_added(tmp_path):
    (tmp_path / "dev").mkdir()
    for node in ("nvidiactl", "nvidia-uvm"):
        (tmp_path / "dev" / node).write_text("")
    present = _cdi.present_control_nodes(str(tmp_path))
    assert present == ("/dev/nvidia-uvm", "/dev/nvidiactl")
    gpus, migs = dgx_h100_full()
    spec = _cdi.build_spec(gpus, migs, dev_root=str(tmp_path), control_nodes=present)
    common = spec["containerEdits"]["deviceNodes"]
    assert common == [
        {"path": "/dev/nvidia-uvm", "hostPath": os.path.join(str(tmp_path), "dev/nvidia-uvm")},
        {"path": "/dev/nvidiactl", "hostPath": os.path.join(str(tmp_path), "dev/nvidiactl")},
    ]
    assert "NVIDIA_VISIBLE_DEVICES=void" in spec["containerEdits"]["env"]


def test_dev_root_prefixes_host_paths_and_slash_keeps_them_implicit(mig_minors_text):
    gpus, migs = dgx_h100_mixed()
    minors = _cdi.parse_mig_minors(mig_minors_text)
    rooted = _by_name(
        _cdi.build_spec(gpus, migs, strategies=["type-index"], dev_root="/run/nvidia/driver", mig_minors=minors)
    )
    assert rooted["mig0:0"][0] == {"path": "/dev/nvidia0", "hostPath": "/run/nvidia/driver/dev/nvidia0"}
    plain = _by_name(_cdi.build_spec(gpus, migs, strategies=["type-index"], dev_root="/", mig_minors=minors))
    assert plain["mig0:0"][0] == {"path": "/dev/nvidia0"}


@pytest.mark.parametrize(
    "strategies, dev_root, version",
    [
        (["type-index"], "/", "0.3.0"),
        (["uuid"], "/", "0.3.0"),
        (["index"], "/", "0.5.0"),  # names start with a digit
        (["type-index"], "/run/nvidia/driver", "0.5.0"),  # hostPath
        (["index", "uuid"], "/", "0.5.0"),
    ],
)
def test_cdi_version_is_the_lowest_the_content_needs(mig_minors_text, strategies, dev_root, version):
    gpus, migs = dgx_h100_mixed()
    spec = _cdi.build_spec(
        gpus, migs, strategies=strategies, dev_root=dev_root, mig_minors=_cdi.parse_mig_minors(mig_minors_text)
    )
    assert spec["cdiVersion"] == version
    assert _cdi.spec_problems(spec) == []


def test_class_with_a_dot_needs_version_0_6_0():
    gpus, migs = dgx_h100_full()
    assert _cdi.build_spec(gpus, migs, strategies=["type-index"], kind="nvidia.com/gpu.mig")["cdiVersion"] == "0.6.0"


def test_gpus_that_are_not_mig_capable_are_full_gpus():
    gpu = h100(0)._replace(mig_current=None, mig_pending=None, name="NVIDIA L4")
    assert _cdi.device_names(_cdi.build_spec([gpu], [], strategies=["index"])) == ["0", "all"]


def test_no_device_at_all_is_an_error_suggesting_absent(mig_minors_text):
    with pytest.raises(_cdi.CdiError) as raised:
        _cdi.build_spec([h100(0, mig=True)], [], mig_minors=_cdi.parse_mig_minors(mig_minors_text))
    assert "state=absent" in str(raised.value)
