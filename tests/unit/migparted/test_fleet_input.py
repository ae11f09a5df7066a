"""mig_plan's planning from gpu_info inventories of simulated hosts: plans that apply
cleanly on the hosts, names resolved per board, kept instances, exclusions, bad input."""

from collections import Counter

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _migparted
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._fabric import FabricManager
from ansible_collections.gpuops.mig.plugins.module_utils._fleet_input import PLANNED_CONFIG, mig_plan
from ansible_collections.gpuops.mig.plugins.module_utils._inventory import inventory
from ansible_collections.gpuops.mig.plugins.module_utils._model import GpuDevice, Placement
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._profiles import parse
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

MIXED_DEMAND = [
    {"profile": "1g.10gb", "count": 20},
    {"requirements": {"memory_gb": 40, "compute_slices": 3}, "count": 6},
    {"requirements": {"compute_slices": 7}, "count": 3},
]


def gpu_info(simulator):
    """What gpu_info returns for a simulated host (its own inventory function)."""
    with Hardware(simulator=simulator) as hardware:
        return inventory(hardware, hardware.select())


@pytest.fixture
def hosts(tmp_path):
    """Simulated DGX A100 and DGX H100 in shared NVSwitch mode: {host name: state file}."""
    paths = {}
    for name, preset in (("dgx-a100-01", "dgx-a100"), ("dgx-h100-01", "dgx-h100")):
        paths[name] = str(tmp_path / (name + ".json"))
        simulated_host.create_host(paths[name], preset, fabric_mode=1)  # shared NVSwitch
    return paths


def fleet_of(hosts):
    return dict((name, gpu_info(path)) for name, path in hosts.items())


def apply(simulator, gpu_plan):
    """Create the planned instances at their planned placements (MIG enabled first)."""
    with Hardware(simulator=simulator) as hardware:
        for index, layout in gpu_plan.items():
            index = int(index)
            if not hardware.device(index).mig_current:
                hardware.set_mig_mode(index, True)
                if not hardware.device(index).mig_current:  # Ampere: pending until reset
                    hardware.reset_gpu(index)
            profiles = dict((profile.name, profile) for profile in hardware.gpu_instance_profiles(index))
            for item in layout:
                placement = Placement(item["placement"]["start"], item["placement"]["size"])
                created = hardware.create_gpu_instance(index, profiles[item["profile"]].profile_id, placement)
                default = next(p for p in hardware.compute_instance_profiles(index, created.gi_id) if p.is_default)
                hardware.create_compute_instance(index, created.gi_id, default.profile_id)


def test_the_plan_applies_on_the_hosts_exactly_as_planned(hosts):
    result = mig_plan(fleet_of(hosts), MIXED_DEMAND)
    assert result["unplaced"] == [] and result["summary"]["placed"] == result["summary"]["demanded"] == 29
    for name, path in hosts.items():
        apply(path, result["plan"][name])  # the simulator refuses overlaps and over-capacity
        after = gpu_info(path)
        for gpu in after["gpus"]:
            planned = result["plan"][name][str(gpu["index"])]
            assert sorted((i["profile"], i["placement"]["start"]) for i in gpu["gpu_instances"]) == sorted(
                (i["profile"], i["placement"]["start"]) for i in planned
            )
        # gpu_info's own mig-parted rendering of the applied state equals the planned one.
        assert after["mig_parted_config"]["mig-configs"]["current"] == result["mig_parted_config"][name]["mig-configs"][PLANNED_CONFIG]


def test_each_demand_item_is_served_by_profiles_that_meet_it(hosts):
    result = mig_plan(fleet_of(hosts), MIXED_DEMAND)
    served = Counter()
    for gpu in result["gpus"]:
        for item in gpu["layout"]:
            served[item["demand"]] += 1
            name = parse(item["profile"])
            if item["demand"] == 0:
                assert item["profile"] == "1g.10gb"
            elif item["demand"] == 1:
                assert name.gpu_slices >= 3 and name.memory_gb >= 40
            else:
                assert item["placement"]["size"] == 8  # the whole GPU
    assert served == Counter({0: 20, 1: 6, 2: 3})


def test_a_profile_name_resolves_per_board(hosts):
    result = mig_plan(fleet_of(hosts), [{"profile": "1g.10gb", "count": 80}])
    sizes = dict(
        (gpu["host"], set(item["placement"]["size"] for item in gpu["layout"])) for gpu in result["gpus"] if gpu["layout"]
    )
    # On A100-40GB 1g.10gb is the double-memory profile (2 slots, 4 per GPU); on H100 it is
    # the 1-slot profile (7 per GPU): 8 x 4 + 8 x 7 = 88 >= 80.
    assert sizes == {"dgx-a100-01": {2}, "dgx-h100-01": {1}}
    assert result["unplaced"] == []


def test_demand_beyond_the_fleet_is_unplaced_with_reasons(hosts):
    result = mig_plan(fleet_of(hosts), [{"profile": "7g.80gb", "count": 10}, {"profile": "2g.48gb", "count": 1}])
    assert [(item["demand"], item["count"], item["item"]) for item in result["unplaced"]] == [
        (0, 2, {"profile": "7g.80gb", "count": 10}),
        (1, 1, {"profile": "2g.48gb", "count": 1}),
    ]
    assert "8 of 10 placed" in result["unplaced"][0]["reason"]
    assert "no eligible GPU offers 2g.48gb" in result["unplaced"][1]["reason"]
    assert result["summary"]["unplaced"] == 3 and result["summary"]["placed"] == 8


def test_existing_instances_that_match_are_kept_and_others_removed(hosts):
    h100 = hosts["dgx-h100-01"]
    apply(h100, {"0": [{"profile": "3g.40gb", "placement": {"start": 4, "size": 4}}], "1": [{"profile": "1g.10gb", "placement": {"start": 0, "size": 1}}]})
    fleet = fleet_of(hosts)
    existing = dict((gpu["index"], [i["gi_id"] for i in gpu["gpu_instances"]]) for gpu in fleet["dgx-h100-01"]["gpus"])
    result = mig_plan(fleet, [{"profile": "3g.40gb", "count": 1}])
    by_gpu = dict(((gpu["host"], gpu["index"]), gpu) for gpu in result["gpus"])
    assert by_gpu[("dgx-h100-01", 0)]["layout"][0]["existing"] == existing[0][0]
    assert by_gpu[("dgx-h100-01", 0)]["changed"] is False
    assert by_gpu[("dgx-h100-01", 1)]["remove"] == existing[1]
    assert result["summary"]["kept"] == 1 and result["summary"]["new"] == 0 and result["summary"]["removed"] == 1


def test_ampere_gpus_in_an_active_multi_gpu_partition_are_excluded(hosts):
    fabric = FabricManager.open(hosts["dgx-a100-01"])
    try:
        fabric.activate(7)  # physical ids 1-4: GPUs 0-3 of the DGX A100
    finally:
        fabric.close()
    result = mig_plan(fleet_of(hosts), [{"profile": "7g.40gb", "count": 8}])
    assert [(item["host"], item["index"]) for item in result["excluded"]] == [("dgx-a100-01", index) for index in range(4)]
    assert all("fabric partition 7" in item["reason"] for item in result["excluded"])
    assert [gpu["index"] for gpu in result["gpus"] if gpu["layout"]] == [4, 5, 6, 7]
    assert result["summary"]["gpus_excluded"] == 4 and result["summary"]["unplaced"] == 4


def test_same_fleet_in_any_order_gives_the_same_plan(hosts):
    fleet = fleet_of(hosts)
    reordered = dict(reversed(list(fleet.items())))
    for strategy in ("best-fit", "balanced", "fabric-aware"):
        assert mig_plan(fleet, MIXED_DEMAND, strategy) == mig_plan(reordered, MIXED_DEMAND, strategy)


def test_balanced_spreads_where_best_fit_packs(hosts):
    demand = [{"profile": "1g.10gb", "count": 8}]
    used = dict(
        (strategy, mig_plan(fleet_of(hosts), demand, strategy)["summary"]["gpus_used"]) for strategy in ("best-fit", "balanced")
    )
    assert used["best-fit"] < used["balanced"]


def test_the_rendered_configs_are_valid_mig_parted_files(hosts):
    result = mig_plan(fleet_of(hosts), MIXED_DEMAND)
    for name, document in result["mig_parted_config"].items():
        config = _migparted.load(document, PLANNED_CONFIG)
        for gpu in result["gpus"]:
            if gpu["host"] == name:
                wanted = config.desired_for(_device(gpu["index"]))
                assert wanted == (True, dict(Counter(item["profile"] for item in gpu["layout"])))


def _device(index):
    return GpuDevice(index, None, None, None, 0, None, None, None, None, None, None)


@pytest.mark.parametrize(
    "fleet, option, words",
    [
        ({}, "fleet", "must map each host name"),
        ({"node1": {"failed": True, "msg": "boom"}}, "fleet.node1", "is not a successful gpu_info result"),
        ({"node1": {"gpus": [{"index": 0}]}}, "fleet.node1.gpus[0]", "is not a gpu_info GPU entry (missing or malformed 'capabilities')"),
    ],
)
def test_fleet_entries_that_are_not_gpu_info_results_fail_naming_the_host(fleet, option, words):
    with pytest.raises(InputError) as caught:
        mig_plan(fleet, [{"profile": "1g.10gb", "count": 1}])
    assert caught.value.option == option
    assert words in str(caught.value)


def test_bad_demand_fails_before_planning(hosts):
    with pytest.raises(InputError, match=r"demand\[0\].profile='1x.10gb'"):
        mig_plan(fleet_of(hosts), [{"profile": "1x.10gb", "count": 1}])
