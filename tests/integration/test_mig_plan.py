"""gpuops.mig.mig_plan through ansible-playbook: gpu_info on a simulated DGX A100 and DGX
H100, a mixed fleet-wide demand planned on the controller, and the plan applied with
mig_mode and mig_instance the way mig_plan's documentation shows."""

import json
from collections import Counter
from pathlib import Path

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _migparted
from ansible_collections.gpuops.mig.plugins.module_utils._model import GpuDevice
from ansible_collections.gpuops.mig.plugins.module_utils._profiles import parse

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
DEMAND = [(None, "1g.10gb", 24), ({"memory_gb": 40, "compute_slices": 3}, None, 6), ({"compute_slices": 7}, None, 4)]


def write_inventory(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "gpu_nodes:\n"
        "  hosts:\n"
        "    dgx-a100-01: {preset: dgx-a100}\n"
        "    dgx-h100-01: {preset: dgx-h100}\n"
        "  vars: {ansible_connection: local}\n"
    )
    return inventory


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory):
    """One run of the playbook: (CompletedProcess, its work directory)."""
    from playbook_runner import run_playbook

    work_dir = tmp_path_factory.mktemp("fleet")
    run = run_playbook(
        PLAYBOOKS / "mig_plan_fleet.yml",
        extra_vars={"work_dir": str(work_dir), "result_file": str(work_dir / "plans.json")},
        inventory=write_inventory(work_dir),
    )
    return run, work_dir


@pytest.fixture(scope="module")
def planned(fleet_run):
    """{strategy: (mig_plan result, fleet)}."""
    run, work_dir = fleet_run
    assert (work_dir / "plans.json").exists(), run.stdout + run.stderr
    saved = json.loads((work_dir / "plans.json").read_text())
    return dict((strategy, (result, saved["fleet"])) for strategy, result in saved["plans"].items())


@pytest.mark.parametrize("strategy", ["best-fit", "balanced"])
def test_every_planned_layout_fits_its_gpu(planned, strategy):
    result, fleet = planned[strategy]
    for host, gpus in result["plan"].items():
        for gpu in fleet[host]["gpus"]:
            layout = gpus[str(gpu["index"])]
            offered = dict((profile["name"], profile) for profile in gpu["profiles"])
            taken = set()
            for item in layout:
                placement = item["placement"]
                assert placement in offered[item["profile"]]["placements"], (host, gpu["index"], item)
                slots = set(range(placement["start"], placement["start"] + placement["size"]))
                assert not slots & taken, (host, gpu["index"], layout)
                taken |= slots
            for name, count in Counter(item["profile"] for item in layout).items():
                assert count <= offered[name]["instance_count"]


@pytest.mark.parametrize("strategy", ["best-fit", "balanced"])
def test_the_demand_is_met_with_profiles_of_each_board(planned, strategy):
    result, _fleet = planned[strategy]
    served = Counter()
    for gpu in result["gpus"]:
        for item in gpu["layout"]:
            requirements, profile, _count = DEMAND[item["demand"]]
            served[item["demand"]] += 1
            name = parse(item["profile"])
            if profile:
                assert item["profile"] == profile
            else:
                assert name.gpu_slices >= requirements["compute_slices"]
                assert name.memory_gb >= requirements.get("memory_gb", 0)
    assert served == Counter(dict((index, count) for index, (_r, _p, count) in enumerate(DEMAND)))


def test_best_fit_leaves_more_whole_gpus_free_than_balanced(planned):
    free = dict((strategy, planned[strategy][0]["summary"]["gpus"] - planned[strategy][0]["summary"]["gpus_used"]) for strategy in planned)
    assert free["best-fit"] > free["balanced"]


def test_mig_parted_configs_of_the_plan_load_back(planned):
    result, _fleet = planned["best-fit"]
    for host, document in result["mig_parted_config"].items():
        config = _migparted.load(document, "planned")
        for index, layout in result["plan"][host].items():
            device = GpuDevice(int(index), None, None, None, 0, None, None, None, None, None, None)
            assert config.desired_for(device) == (True, dict(Counter(item["profile"] for item in layout)))


def test_the_applied_plan_is_what_the_hosts_have(fleet_run, planned):
    run, work_dir = fleet_run
    assert run.returncode == 0, run.stdout + run.stderr
    result, _fleet = planned["best-fit"]
    for host, gpus in result["plan"].items():
        applied = json.loads((work_dir / ("%s-applied.json" % host)).read_text())
        for gpu in applied["gpus"]:
            have = sorted((i["profile"], i["placement"]["start"], i["placement"]["size"]) for i in gpu["gpu_instances"])
            planned_layout = gpus[str(gpu["index"])]
            assert have == sorted((i["profile"], i["placement"]["start"], i["placement"]["size"]) for i in planned_layout)


def test_bad_input_fails_naming_option_and_value(playbook_runner):
    run = playbook_runner(PLAYBOOKS / "mig_plan_errors.yml")
    assert run.returncode == 0, run.stdout + run.stderr
