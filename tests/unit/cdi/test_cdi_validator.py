"""The module's own CDI validator rejects what the reference loader rejects (required
fields, strict fields, names, duplicates, edits, hooks, version gating), and agrees with
the official JSON schema where the schema has an opinion."""

import copy

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi


def _spec(**overrides):
    spec = {
        "cdiVersion": "0.5.0",
        "kind": "vendor.com/device",
        "devices": [
            {"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/card0", "hostPath": "/r/dev/card0"}]}}
        ],
        "containerEdits": {"env": ["A=1"], "hooks": [{"hookName": "createContainer", "path": "/bin/hook"}]},
    }
    spec.update(overrides)
    return spec


def _with_device_edits(edits, version="1.1.0"):
    return _spec(cdiVersion=version, devices=[{"name": "dev", "containerEdits": edits}])


def test_a_valid_spec_has_no_problems(official_schema):
    assert _cdi.spec_problems(_spec()) == []
    assert list(official_schema.iter_errors(_spec())) == []
    assert _cdi.check_spec(_spec()) == _spec()


def test_reference_example_spec_is_valid(official_schema):
    example = {
        "cdiVersion": "0.6.0",
        "kind": "vendor.com/device",
        "devices": [
            {
                "name": "myDevice",
                "containerEdits": {
                    "deviceNodes": [{"hostPath": "/vendorroot/dev/card1", "path": "/dev/card1"}, {"path": "/dev/card2"}]
                },
            }
        ],
        "containerEdits": {
            "env": ["FOO=CDI_SPEC", "BAR=BARVALUE1"],
            "deviceNodes": [{"path": "/dev/vendorctl", "uid": 1000, "gid": 1000}],
            "mounts": [{"hostPath": "/bin/vendorBin", "containerPath": "/bin/vendorBin"}],
            "hooks": [
                {"hookName": "createContainer", "path": "/bin/vendor-hook"},
                {"hookName": "startContainer", "path": "/usr/bin/ldconfig"},
            ],
        },
    }
    assert _cdi.spec_problems(example) == []
    assert list(official_schema.iter_errors(example)) == []


@pytest.mark.parametrize(
    "broken, complaint",
    [
        ({"cdiVersion": None}, "cdiVersion is required"),
        ({"cdiVersion": "0.9.0"}, "not a CDI spec version"),
        ({"cdiVersion": "0.2.0"}, "older than the earliest"),
        ({"cdiVersion": "0.4.0"}, "needs at least 0.5.0"),
        ({"kind": None}, "kind is required"),
        ({"kind": "vendor.com"}, "vendor/class"),
        ({"kind": "vendor.com/dev ice"}, "invalid character"),
        ({"devices": []}, "at least one device"),
        ({"devices": None}, "at least one device"),
        ({"extra": 1}, "unknown field 'extra'"),
        ({"containerEdits": {"env": ["NOVALUE"]}}, "invalid environment variable 'NOVALUE'"),
        ({"containerEdits": {"env": ["=x"]}}, "invalid environment variable '=x'"),
        ({"containerEdits": {"hooks": [{"hookName": "preStart", "path": "/bin/h"}]}}, "invalid hook name 'preStart'"),
        ({"containerEdits": {"hooks": [{"hookName": "poststop"}]}}, "hook needs a path"),
        ({"containerEdits": {"hooks": [{"hookName": "poststop", "path": "bin/h"}]}}, "must be absolute"),
        ({"containerEdits": {"hooks": [{"hookName": "poststop", "path": "/h", "timeout": 0}]}}, "timeout"),
        ({"containerEdits": {"hooks": [{"hookName": "poststop", "path": "/h", "env": ["X"]}]}}, "invalid environment"),
        ({"containerEdits": {"mounts": [{"hostPath": "/a"}]}}, "mount needs containerPath"),
        ({"containerEdits": {"deviceNodes": [{"hostPath": "/a"}]}}, "device node needs a path"),
        ({"containerEdits": {"deviceNodes": [{"path": "/a", "type": "x"}]}}, "invalid device node type"),
        ({"containerEdits": {"deviceNodes": [{"path": "/a", "permissions": "rwx"}]}}, "invalid permissions"),
        ({"containerEdits": {"deviceNodes": [{"path": "/a", "uid": -1}]}}, "uid must be an unsigned 32-bit"),
        ({"containerEdits": {"deviceNodes": [{"path": "/a", "mode": 1}]}}, "unknown field 'mode'"),
    ],
)
def test_spec_level_problems(broken, complaint):
    problems = _cdi.spec_problems(_spec(**broken))
    assert any(complaint in problem for problem in problems), problems
    with pytest.raises(_cdi.CdiError) as raised:
        _cdi.check_spec(_spec(**broken), path="/x.yaml")
    assert raised.value.problems == problems


@pytest.mark.parametrize(
    "device, complaint",
    [
        ({"containerEdits": {"env": ["A=1"]}}, "name is required"),
        ({"name": ":0", "containerEdits": {"env": ["A=1"]}}, "must start with a letter or digit"),
        ({"name": "gpu 0", "containerEdits": {"env": ["A=1"]}}, "invalid character"),
        ({"name": "g"}, "containerEdits is required"),
        ({"name": "g", "containerEdits": {}}, "empty container edits"),
        ({"name": "g", "containerEdits": {"env": []}}, "empty container edits"),
        ({"name": "g", "containerEdits": {"env": ["A=1"]}, "labels": {}}, "unknown field 'labels'"),
    ],
)
def test_device_problems(device, complaint):
    problems = _cdi.spec_problems(_spec(devices=[device]))
    assert any(complaint in problem for problem in problems), problems


def test_duplicate_device_names_are_rejected():
    device = {"name": "gpu0", "containerEdits": {"env": ["A=1"]}}
    problems = _cdi.spec_problems(_spec(devices=[device, copy.deepcopy(device)]))
    assert problems == ["device 'gpu0': duplicate device name"]


def test_duplicate_net_devices_are_rejected():
    edits = {"netDevices": [{"hostInterfaceName": "eth0", "name": "a"}, {"hostInterfaceName": "eth0", "name": "b"}]}
    assert any("duplicate hostInterfaceName" in problem for problem in _cdi.spec_problems(_with_device_edits(edits)))


def test_every_hook_name_of_the_reference_is_accepted():
    hooks = [{"hookName": name, "path": "/bin/h"} for name in _cdi.HOOK_NAMES]
    assert _cdi.spec_problems(_with_device_edits({"hooks": hooks}, version="0.3.0")) == []


def test_a_leading_v_in_the_version_is_accepted():
    assert _cdi.spec_problems(_spec(cdiVersion="v0.5.0")) == []


@pytest.mark.parametrize(
    "feature, version",
    [
        ({"devices": [{"name": "gpu", "containerEdits": {"env": ["A=1"]}}]}, "0.3.0"),
        (
            {
                "devices": [
                    {
                        "name": "gpu",
                        "containerEdits": {"mounts": [{"hostPath": "/a", "containerPath": "/a", "type": "bind"}]},
                    }
                ]
            },
            "0.4.0",
        ),
        ({"devices": [{"name": "0", "containerEdits": {"env": ["A=1"]}}]}, "0.5.0"),
        (
            {"devices": [{"name": "gpu", "containerEdits": {"deviceNodes": [{"path": "/a", "hostPath": "/b"}]}}]},
            "0.5.0",
        ),
        ({"devices": [{"name": "gpu", "annotations": {"a": "b"}, "containerEdits": {"env": ["A=1"]}}]}, "0.6.0"),
        ({"annotations": {"a": "b"}, "devices": [{"name": "gpu", "containerEdits": {"env": ["A=1"]}}]}, "0.6.0"),
        ({"kind": "vendor.com/dev.ice", "devices": [{"name": "gpu", "containerEdits": {"env": ["A=1"]}}]}, "0.6.0"),
        ({"devices": [{"name": "gpu", "containerEdits": {"additionalGids": [5]}}]}, "0.7.0"),
        ({"devices": [{"name": "gpu", "containerEdits": {"intelRdt": {"closID": "c"}}}]}, "0.7.0"),
        (
            {"devices": [{"name": "gpu", "containerEdits": {"intelRdt": {"closID": "c", "schemata": ["L3:0=f"]}}}]},
            "1.1.0",
        ),
        (
            {"devices": [{"name": "gpu", "containerEdits": {"netDevices": [{"hostInterfaceName": "e", "name": "n"}]}}]},
            "1.1.0",
        ),
    ],
)
def test_version_gating_follows_the_features_used(feature, version):
    spec = {"kind": "vendor.com/device", "containerEdits": {}}
    spec.update(feature)
    assert _cdi.minimum_version(spec) == version
    spec["cdiVersion"] = version
    assert _cdi.spec_problems(spec) == []
    if version != _cdi.EARLIEST_VERSION:
        spec["cdiVersion"] = _cdi.SPEC_VERSIONS[_cdi.SPEC_VERSIONS.index(version) - 1]
        assert any("too low" in problem for problem in _cdi.spec_problems(spec))


@pytest.mark.parametrize(
    "broken",
    [
        {"devices": [{"name": "gpu"}]},  # device without containerEdits
        {"devices": [{"name": "gpu", "containerEdits": {"deviceNodes": [{"path": "/a", "uid": -1}]}}]},
        {"devices": [{"name": "gpu", "containerEdits": {"mounts": [{"hostPath": "/a"}]}}]},
        {"devices": [{"name": "gpu", "containerEdits": {"hooks": [{"path": "/a"}]}}]},
        {"cdiVersion": None},
    ],
)
def test_what_the_official_schema_rejects_the_own_validator_rejects(official_schema, broken):
    spec = _spec(**broken)
    if spec["cdiVersion"] is None:
        del spec["cdiVersion"]
    assert list(official_schema.iter_errors(spec))
    assert _cdi.spec_problems(spec)


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        [],
        {"cdiVersion": 5, "kind": 7, "devices": "x"},
        {
            "cdiVersion": "0.5.0",
            "kind": "a/b",
            "devices": ["x", {"name": 3, "containerEdits": []}],
            "containerEdits": [],
        },
        {
            "cdiVersion": "0.5.0",
            "kind": "a/b",
            "devices": [
                {"name": "d", "containerEdits": {"deviceNodes": ["x"], "mounts": "y", "env": "z", "intelRdt": 1}}
            ],
        },
        {
            "cdiVersion": "vv0.5.0",
            "kind": "a/b",
            "devices": [
                {
                    "name": "d",
                    "containerEdits": {
                        "hooks": [{"hookName": "poststop", "path": 5}],
                        "intelRdt": {"closID": 3},
                        "additionalGids": 4,
                        "netDevices": [{"hostInterfaceName": {}, "name": []}],
                    },
                }
            ],
        },
    ],
)
def test_malformed_specs_are_reported_not_crashed_on(garbage):
    assert _cdi.spec_problems(garbage)
