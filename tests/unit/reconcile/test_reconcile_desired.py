"""mig_instance's desired-state forms, resolved against each GPU's own profiles, and the
input errors raised before anything changes."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._desired import desired_state
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError

from reconcile_support import opened

BALANCED = """
version: v1
mig-configs:
  all-balanced:
    - device-filter: ["0x233010DE"]
      devices: all
      mig-enabled: true
      mig-devices: {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}
    - device-filter: ["0x20B010DE"]
      devices: all
      mig-enabled: true
      mig-devices: {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}
  split:
    - devices: [0, 1]
      mig-enabled: true
      mig-devices: {"1c.3g.40gb": 2}
    - devices: [2]
      mig-enabled: false
"""


def wanted(path, gpus=None, **params):
    params.setdefault("state", "present")
    with opened(path) as hardware:
        desired = desired_state(params, hardware, hardware.select(gpus))
    return dict(
        (index, (gpu.mig_enabled, sorted((w.profile.name, tuple(w.placement or ()), w.compute) for w in gpu.wanted)))
        for index, gpu in desired.items()
    )


def test_layout_entries_name_gpu_instances_compute_instances_and_placements(make_host):
    simulator = make_host("dgx-h100", mig=False)
    layout = [
        "3g.40gb",
        "1c.2g.20gb",
        {"profile": "1g.10gb", "count": 2},
        {"profile": "1g.10gb+me", "placement": "6:1"},
        {"profile": "MIG 4G.40GB", "placement": {"start": 0}, "compute_instances": ["2c", "1c.4g.40gb", "1c"]},
        {"profile": "1g.20gb", "compute_instances": []},
    ]
    result = wanted(simulator, gpus=["5"], layout=layout)
    assert result == {
        5: (
            True,
            [
                ("1g.10gb", (), None),
                ("1g.10gb", (), None),
                ("1g.10gb+me", (6, 1), None),
                ("1g.20gb", (), ()),
                ("2g.20gb", (), (1,)),
                ("3g.40gb", (), None),
                ("4g.40gb", (0, 4), (2, 1, 1)),
            ],
        )
    }


@pytest.mark.parametrize(
    "params, option, words",
    [
        ({"layout": ["3g.20gb"]}, "layout[0]", ["no 3g profile with 20gb", "3g.40gb"]),
        ({"layout": [{"profile": "3g.40gb", "slots": 4}]}, "layout[0].slots", ["unknown key", "placement"]),
        ({"layout": [{"profile": "3g.40gb", "count": 2, "placement": 0}]}, "layout[0].placement", ["count is 2"]),
        ({"layout": [{"profile": "3g.40gb", "placement": 2}]}, "layout[0].placement", ["not a placement of 3g.40gb", "0:4", "4:4"]),
        ({"layout": [{"profile": "2g.20gb", "compute_instances": ["3c"]}]}, "layout[0].profile", ["more compute slices"]),
        ({"layout": ["1g.10gb"], "requirements": [{"memory_gb": 10}]}, "requirements", ["give at most one of", "got layout, requirements"]),
        ({}, "layout", ["one of layout, requirements", "is required"]),
        ({"layout_preset": "all-7"}, "layout_preset", ["unknown layout preset", "all-balanced"]),
        ({"gpu_layouts": {"9": ["1g.10gb"]}}, "gpu_layouts", ["not the index of a selected GPU"]),
        ({"state": "disabled", "layout_preset": "all-1g"}, "layout_preset", ["state=disabled"]),
        ({"state": "absent", "layout": ["1g.10gb"]}, "layout", ["state=absent"]),
        ({"requirements": [{"memory_gb": 500}]}, "requirements[0]", ["closest"]),
        ({"mig_parted_config": {"file": "CONFIG", "name": "nope"}}, "mig_parted_config.name", ["no such config", "all-balanced, split"]),
    ],
)
def test_bad_input_names_the_option_value_and_choices(make_host, tmp_path, params, option, words):
    simulator = make_host("dgx-h100", mig=False)
    config = tmp_path / "config.yaml"
    config.write_text(BALANCED)
    if "mig_parted_config" in params:
        params["mig_parted_config"]["file"] = str(config)
    with pytest.raises(InputError) as raised:
        wanted(simulator, **params)
    assert raised.value.option == option
    for word in words:
        assert word in str(raised.value)


def test_requirements_pick_profiles_per_gpu(make_host):
    simulator = make_host("rtx-pro-6000-x4", mig=False)
    result = wanted(simulator, gpus=["0"], requirements=[{"memory_gb": 40, "count": 1}, {"memory_gb": 20, "count": 2}])
    names = [name for name, _placement, _compute in result[0][1]]
    assert len(names) == 3 and sorted(int(name.split(".")[1][:-2]) >= 20 for name in names) == [True] * 3
    assert any(name.startswith("2g.48gb") for name in names)


def test_mig_parted_configs_select_gpus_by_model_and_index(make_host, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(BALANCED)
    for preset, balanced in (("dgx-h100", ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"]), ("dgx-a100", ["1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb"])):
        simulator = make_host(preset, mig=False)
        result = wanted(simulator, mig_parted_config={"file": str(config), "name": "all-balanced"})
        assert sorted(result) == list(range(8))
        assert all(sorted(name for name, _p, _c in entry[1]) == balanced for entry in result.values())
    simulator = make_host("dgx-h100", mig=False)
    split = wanted(simulator, mig_parted_config={"file": str(config), "name": "split"})
    assert split[0] == split[1] == (True, [("3g.40gb", (), (1,)), ("3g.40gb", (), (1,))])
    assert split[2] == (False, [])
    assert sorted(split) == [0, 1, 2]  # GPUs the config does not name are left alone


def test_compute_instance_sizes_are_checked_against_the_device_once_it_lists_them(make_host):
    simulator = make_host("dgx-h100")
    layout = [{"profile": "4g.40gb", "compute_instances": ["3c"]}]
    assert wanted(simulator, gpus=["0"], layout=layout)[0][1] == [("4g.40gb", (), (3,))]  # not known yet
    with opened(simulator) as hardware:  # a 4g.40gb GPU instance makes its compute profiles known
        profile = next(p for p in hardware.gpu_instance_profiles(0) if p.name == "4g.40gb")
        hardware.create_gpu_instance(0, profile.profile_id)
    with pytest.raises(InputError) as raised:
        wanted(simulator, gpus=["0"], layout=layout)
    assert "no 3c compute-instance profile" in str(raised.value)
    assert wanted(simulator, gpus=["0"], layout=["2c.4g.40gb"])[0][1] == [("4g.40gb", (), (2,))]


def test_layout_presets_become_each_boards_own_profiles(make_host):
    h100 = wanted(make_host("dgx-h100", mig=False), gpus=["0"], layout_preset="all-balanced")
    assert h100 == {0: (True, [("1g.10gb", (), None), ("1g.10gb", (), None), ("2g.20gb", (), None), ("3g.40gb", (), None)])}
    a30 = wanted(make_host("a30-x4", mig=False), gpus=["1"], default_layout_preset="all-balanced")
    assert a30 == {1: (True, [("1g.6gb", (), None), ("1g.6gb", (), None), ("2g.12gb", (), None)])}


def test_gpu_layouts_describe_only_the_gpus_they_name(make_host):
    desired = wanted(make_host("dgx-h100", mig=False), gpu_layouts={"2": ["7g.80gb"], 5: ["3g.40gb", "3g.40gb"]})
    assert desired == {2: (True, [("7g.80gb", (), None)]), 5: (True, [("3g.40gb", (), None), ("3g.40gb", (), None)])}


def test_state_disabled_wants_mig_off_and_no_instances(make_host):
    assert wanted(make_host("dgx-h100", mig=False), gpus=["0", "1"], state="disabled") == {0: (False, []), 1: (False, [])}
