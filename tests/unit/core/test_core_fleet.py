"""Fleet planning: determinism, architecture and fabric constraints, strategies."""

import random
from collections import Counter

import pytest
from brute_force import slots
from reference_boards import A100_40GB, H100_80GB, RTX_PRO_6000, by_name

from ansible_collections.gpuops.mig.plugins.module_utils._capabilities import ADA, AMPERE, BLACKWELL, HOPPER
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._fleet import plan_fleet
from ansible_collections.gpuops.mig.plugins.module_utils._model import GpuInstance, Placement

BOARD = {AMPERE: A100_40GB, HOPPER: H100_80GB, BLACKWELL: RTX_PRO_6000, ADA: ()}


def gpu(host, index, architecture, partition=None, instances=()):
    return {
        "host": host,
        "index": index,
        "uuid": "GPU-%s-%d" % (host, index),
        "architecture": architecture,
        "profiles": BOARD[architecture],
        "instances": list(instances),
        "fabric_partition": partition,
    }


def fleet():
    gpus = [gpu("a100-%d" % h, i, AMPERE) for h in range(2) for i in range(4)]
    gpus += [gpu("h100-%d" % h, i, HOPPER, partition=1) for h in range(2) for i in range(4)]
    gpus += [gpu("rtx-0", i, BLACKWELL) for i in range(2)]
    return gpus


def layouts(result):
    return dict(((g["host"], g["index"]), sorted(e["profile"] for e in g["layout"])) for g in result["gpus"])


def assert_layouts_valid(result, gpus):
    by_key = dict(((g["host"], g["index"]), g) for g in gpus)
    for entry in result["gpus"]:
        profiles = by_key[(entry["host"], entry["index"])]["profiles"]
        used = set()
        for item in entry["layout"]:
            placement = Placement(item["placement"]["start"], item["placement"]["size"])
            assert placement in by_name(profiles, item["profile"]).placements
            assert not slots(placement) & used
            used |= slots(placement)


DEMAND = [
    {"profile": "1g.10gb", "count": 20},
    {"requirements": {"memory_gb": 20}, "count": 10},
    {"profile": "2g.48gb", "count": 3},
]


@pytest.mark.parametrize("strategy", ["best-fit", "balanced", "fabric-aware"])
def test_same_input_gives_the_same_plan_whatever_the_input_order(strategy):
    gpus = fleet()
    first = plan_fleet(gpus, DEMAND, strategy)
    shuffled = list(gpus)
    random.Random(3).shuffle(shuffled)
    assert plan_fleet(shuffled, DEMAND, strategy) == first
    assert first["placed"] == 33 and not first["unplaced"]
    assert_layouts_valid(first, gpus)


def test_names_resolve_per_board():
    result = plan_fleet(fleet(), [{"profile": "1g.10gb", "count": 40}], "best-fit")
    placed = Counter()
    for entry in result["gpus"]:
        for item in entry["layout"]:
            placed[(entry["architecture"], item["placement"]["size"])] += 1
    # A100-40GB's 1g.10gb spans 2 slots (max 4 a GPU), H100's 1 slot (max 7).
    assert placed[("ampere", 2)] + placed[("hopper", 1)] == 40
    assert not any(entry["layout"] for entry in result["gpus"] if entry["architecture"] == "blackwell")


def test_best_fit_fills_gpus_one_after_the_other_and_balanced_spreads():
    gpus = [gpu("h", i, HOPPER) for i in range(4)]
    demand = [{"profile": "1g.10gb", "count": 8}]
    packed = plan_fleet(gpus, demand, "best-fit")
    spread = plan_fleet(gpus, demand, "balanced")
    assert [len(e["layout"]) for e in packed["gpus"]] == [7, 1, 0, 0]
    assert [len(e["layout"]) for e in spread["gpus"]] == [2, 2, 2, 2]


def test_fabric_aware_keeps_partition_gpus_uniform():
    gpus = [gpu("h", i, HOPPER, partition=5) for i in range(4)] + [gpu("h", 4, HOPPER)]
    result = plan_fleet(gpus, [{"profile": "3g.40gb", "count": 6}], "fabric-aware")
    per_gpu = [len(e["layout"]) for e in result["gpus"]]
    assert per_gpu[:4] == [1, 1, 1, 1] and per_gpu[4] == 2
    best_fit = plan_fleet(gpus, [{"profile": "3g.40gb", "count": 6}], "best-fit")
    assert [len(e["layout"]) for e in best_fit["gpus"]] == [2, 2, 2, 0, 0]


def test_fabric_aware_leaves_uneven_rest_unplaced_with_a_reason():
    gpus = [gpu("h", i, HOPPER, partition=5) for i in range(4)]
    result = plan_fleet(gpus, [{"profile": "7g.80gb", "count": 3}], "fabric-aware")
    assert result["placed"] == 0
    assert "uniform" in result["unplaced"][0]["reason"]


def test_requirements_prefer_single_slice_on_hopper_fabric_gpus_only():
    gpus = [gpu("h", 0, HOPPER, partition=1), gpu("h", 1, HOPPER)]
    result = plan_fleet(gpus, [{"requirements": {"memory_gb": 20}, "count": 2}], "balanced")
    assert layouts(result) == {("h", 0): ["1g.20gb"], ("h", 1): ["2g.20gb"]}


def test_ampere_in_a_multi_gpu_partition_and_non_mig_gpus_are_excluded():
    gpus = [gpu("a", 0, AMPERE, partition=2), gpu("a", 1, AMPERE, partition=2), gpu("a", 2, AMPERE, partition=3)]
    gpus.append(gpu("l40", 0, ADA))
    result = plan_fleet(gpus, [{"profile": "7g.40gb", "count": 2}], "best-fit")
    excluded = dict(((e["host"], e["index"]), e["reason"]) for e in result["excluded"])
    assert set(excluded) == {("a", 0), ("a", 1), ("l40", 0)}
    assert "multi-GPU fabric partition" in excluded[("a", 0)] and "do not support MIG" in excluded[("l40", 0)]
    assert layouts(result)[("a", 2)] == ["7g.40gb"]  # a single-GPU partition is fine
    assert result["unplaced"] == [{"demand": 0, "count": 1, "reason": "no capacity left for 7g.40gb: 1 of 2 placed"}]


def test_existing_matching_instances_are_kept_and_others_removed():
    g3 = by_name(H100_80GB, "3g.40gb")
    existing = [GpuInstance(2, g3.profile_id, Placement(0, 4), (), ()), GpuInstance(9, 19, Placement(6, 1), (), ())]
    gpus = [gpu("h", 0, HOPPER, instances=existing), gpu("h", 1, HOPPER)]
    result = plan_fleet(gpus, [{"profile": "3g.40gb", "count": 2}], "best-fit")
    first = result["gpus"][0]
    assert [(e["profile"], e["existing"]) for e in first["layout"]] == [("3g.40gb", 2), ("3g.40gb", None)]
    assert first["remove"] == [9] and first["changed"]
    assert not result["gpus"][1]["layout"]
    # Planning again from the planned state changes nothing.
    kept = [GpuInstance(2, 9, Placement(0, 4), (), ()), GpuInstance(3, 9, Placement(4, 4), (), ())]
    again = plan_fleet([gpu("h", 0, HOPPER, instances=kept), gpu("h", 1, HOPPER)], [{"profile": "3g.40gb", "count": 2}])
    assert not any(entry["changed"] for entry in again["gpus"])


def test_unknown_profile_is_reported_as_unplaced():
    result = plan_fleet(fleet(), [{"profile": "9g.900gb", "count": 1}])
    assert result["unplaced"][0]["reason"] == "no eligible GPU offers 9g.900gb"


@pytest.mark.parametrize(
    "demand,option",
    [
        ([{"count": 1}], "demand[0]"),
        ([{"profile": "1g.10gb", "requirements": {}, "count": 1}], "demand[0]"),
        ([{"profile": "1g.10gb", "count": 0}], "demand[0].count"),
        ([{"profile": "10gb", "count": 1}], "demand[0].profile"),
        ([{"requirements": {"memory_gb": "x"}, "count": 1}], "demand[0].requirements.memory_gb"),
    ],
)
def test_bad_demand_fails_naming_the_option(demand, option):
    with pytest.raises(InputError) as error:
        plan_fleet(fleet(), demand)
    assert error.value.option == option


def test_bad_strategy_is_refused():
    with pytest.raises(InputError) as error:
        plan_fleet(fleet(), DEMAND, "round-robin")
    assert error.value.option == "placement_strategy"


@pytest.mark.parametrize(
    "demand, option",
    [([], "demand"), ([{"requirements": {}}], "demand[0].requirements"),
     ([{"requirements": {"memory_gb": None, "count": 2}}], "demand[0].requirements")],
)
def test_an_empty_demand_or_requirement_is_refused(demand, option):
    with pytest.raises(InputError) as refused:
        plan_fleet(fleet(), demand, "best-fit")
    assert refused.value.option == option
