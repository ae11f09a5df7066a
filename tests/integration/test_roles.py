"""The roles and site/teardown/plan playbooks through ansible-playbook on simulated hosts.

The whole simulated inventory (inventories/simulated) is applied twice by site.yml; the
other tests use one- or two-host inventories written next to their simulated hosts.
"""

import json
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
FLEET_INVENTORY = REPO / "inventories" / "simulated"
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
COMMON_VARS = {
    "ansible_connection": "local",
    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
    "ansible_pipelining": True,
    "gpuops_mig_simulator": "{{ gpuops_mig_simulator_dir }}/{{ inventory_hostname }}.json",
    "gpuops_mig_simulator_units": {"nvidia-dcgm": {"active": True}, "nvidia-k8s-device-plugin": {"active": True}},
    "mig_gpu_clients": ["nvidia-dcgm", "nvidia-k8s-device-plugin"],
}


def recap(result):
    """{host: (ok, changed, unreachable, failed)} of the last PLAY RECAP."""
    text = result.stdout.rsplit("PLAY RECAP", 1)[-1]
    return dict((m.group(1), tuple(int(n) for n in m.groups()[1:])) for m in RECAP_LINE.finditer(text))


def passed(result):
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result


def write_inventory(work_dir, groups, common=None):
    """An inventory of simulated hosts kept in work_dir: groups = {group: {host: vars}}."""
    variables = dict(COMMON_VARS, gpuops_mig_simulator_dir=str(work_dir))
    variables.update(common or {})
    inventory = {"all": {"vars": variables, "children": dict((group, {"hosts": hosts}) for group, hosts in groups.items())}}
    path = Path(work_dir) / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def layouts(state_path):
    """{gpu index: sorted profile names} of the GPUs with MIG in effect."""
    summary = host.describe_host(str(state_path))
    return dict(
        (gpu["index"], sorted(gi["profile"] for gi in gpu["gpu_instances"])) for gpu in summary["gpus"] if gpu["mig_current"]
    )


def active_partition_gpus(state_path):
    """The GPU index sets of the active fabric partitions."""
    with Hardware(simulator=str(state_path)) as hardware:
        module_to_index = dict((device.module_id, device.index) for device in hardware.devices())
    with open(str(state_path)) as handle:
        fabric = json.load(handle)["fabric"]
    return sorted(
        sorted(module_to_index[physical_id] for physical_id in partition["physical_ids"])
        for partition in fabric.get("partitions", [])
        if partition["active"]
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """site.yml applied twice to the simulated inventory: (work dir, first run, second run)."""
    from playbook_runner import run_playbook

    work_dir = tmp_path_factory.mktemp("fleet")
    extra = {"gpuops_mig_simulator_dir": str(work_dir)}
    first = run_playbook(PLAYBOOKS / "site.yml", extra, inventory=FLEET_INVENTORY)
    second = run_playbook(PLAYBOOKS / "site.yml", extra, inventory=FLEET_INVENTORY) if first.returncode == 0 else None
    return work_dir, first, second


def test_site_applies_the_simulated_fleet_and_a_second_run_changes_nothing(fleet):
    work_dir, first, second = fleet
    passed(first)
    assert all(counts[1] > 0 for counts in recap(first).values()), recap(first)
    passed(second)
    hosts = recap(second)
    assert sorted(hosts) == ["a30-01", "dgx-a100-01", "dgx-b200-01", "dgx-h100-01", "hgx-h200-01", "rtx-pro-01"]
    assert dict((name, counts[1]) for name, counts in hosts.items()) == dict((name, 0) for name in hosts), second.stdout[-6000:]


def test_the_fleet_has_the_inventory_layouts(fleet):
    work_dir = fleet[0]
    b200 = ["1g.23gb", "1g.23gb", "2g.45gb", "3g.90gb"]
    assert layouts(work_dir / "dgx-b200-01.json") == dict((index, b200) for index in range(8))
    # requirements {memory_gb: 5} x2 + {memory_gb: 10, compute_slices: 2} on a 4-slice A30
    assert layouts(work_dir / "a30-01.json") == dict((index, ["1g.6gb", "1g.6gb", "2g.12gb"]) for index in range(4))
    assert layouts(work_dir / "dgx-a100-01.json") == {}
    assert layouts(work_dir / "dgx-h100-01.json") == {4: ["3g.40gb", "3g.40gb"], 6: ["3g.40gb", "3g.40gb"]}
    # the mig-parted config: GPUs 0-3 halved, 4-7 without MIG
    assert layouts(work_dir / "hgx-h200-01.json") == dict((index, ["3g.71gb", "3g.71gb"]) for index in range(4))
    rtx = ["1g.24gb+gfx", "1g.24gb+gfx", "2g.48gb+gfx"]
    assert layouts(work_dir / "rtx-pro-01.json") == dict((index, rtx) for index in range(4))


def test_the_fleet_has_the_vms_partitions_and_fabric_modes(fleet):
    work_dir = fleet[0]
    assert active_partition_gpus(work_dir / "dgx-a100-01.json") == [[0, 1, 2, 3], [4, 5], [6]]
    assert active_partition_gpus(work_dir / "dgx-h100-01.json") == [[0, 1, 2, 3], [4, 6]]
    assert active_partition_gpus(work_dir / "hgx-h200-01.json") == [[0, 2], [1, 3]]
    modes = dict((name, host.describe_host(str(work_dir / (name + ".json")))["fabric"]["mode"])
                 for name in ("dgx-b200-01", "dgx-a100-01", "dgx-h100-01", "hgx-h200-01"))
    assert modes == {"dgx-b200-01": 0, "dgx-a100-01": 1, "dgx-h100-01": 1, "hgx-h200-01": 2}
    cfg = (work_dir / "hgx-h200-01.json.root" / "usr/share/nvidia/nvswitch/fabricmanager.cfg").read_text()
    assert "FABRIC_MODE=2" in cfg.splitlines()
    assert not (work_dir / "a30-01.json.root" / "usr/share/nvidia/nvswitch").exists()


def test_the_fleet_keeps_its_gpu_clients_running_and_has_cdi_specs(fleet):
    work_dir = fleet[0]
    for state in sorted(work_dir.glob("*.json")):
        summary = host.describe_host(str(state))
        assert summary["units"] == {"nvidia-dcgm": True, "nvidia-k8s-device-plugin": True}, state.name
        spec = yaml.safe_load((Path(summary["root"]) / "var/run/cdi/nvidia.yaml").read_text())
        names = set(device["name"] for device in spec["devices"])
        for gpu in summary["gpus"]:
            wanted = ["%d:%d" % (gpu["index"], i) for i in range(len(gpu["gpu_instances"]))] if gpu["mig_current"] else [str(gpu["index"])]
            assert set(wanted) <= names, (state.name, gpu["index"], sorted(names))


def one_host(tmp_path, group, name, host_vars, common=None):
    inventory = write_inventory(tmp_path, {group: {name: host_vars}}, common)
    return inventory, tmp_path / (name + ".json")


def task_outcomes(stdout, task):
    """The outcome words (ok, changed, skipping, ...) printed under every run of a task."""
    outcomes = []
    for block in stdout.split("TASK [")[1:]:
        title, dummy, body = block.partition("]")
        if title.endswith(task):
            outcomes += re.findall(r"^(ok|changed|skipping|fatal|failed): ", body, re.M)
    return outcomes


def converge_results(result, host_name):
    """Every result of the mig role's converge task for ``host_name`` in a run made with
    JSON_OUTPUT (the default callback printing each result as one line of JSON)."""
    results = []
    for block in result.stdout.split("TASK [")[1:]:
        title, _bracket, body = block.partition("]")
        if title.endswith("Converge MIG mode, instances, GPU clients and the CDI spec"):
            for match in re.finditer(r"^(?:ok|changed|fatal): \[%s\](?:: FAILED!)? => (\{.*\})$" % re.escape(host_name), body, re.M):
                results.append(json.loads(match.group(1)))
    return results


JSON_OUTPUT = {"ANSIBLE_VERBOSITY": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_CALLBACK_FORMAT_PRETTY": "false"}


def test_gpu_clients_are_stopped_only_when_something_changes(tmp_path, playbook_runner):
    inventory, state = one_host(tmp_path, "bare_metal", "a30", {"gpuops_mig_simulator_preset": "a30-x4", "mig_layout": ["4g.24gb"]})
    clients = ["nvidia-dcgm", "nvidia-k8s-device-plugin"]
    first = converge_results(passed(playbook_runner(PLAYBOOKS / "site.yml", inventory=inventory, env=JSON_OUTPUT)), "a30")
    assert [result["changed"] for result in first] == [True]
    assert first[0]["gpu_clients_restarted"] == clients
    units = [action for action in first[0]["actions"] if "unit" in action]
    assert units == [{"action": "stop_unit", "unit": unit} for unit in clients] + [{"action": "start_unit", "unit": unit} for unit in clients]
    # MIG mode (an Ampere reset) and the instances changed within the same stop of the clients
    assert [action["action"] for action in first[0]["actions"]][2:4] == ["set_mig_mode", "set_mig_mode"]
    second = converge_results(passed(playbook_runner(PLAYBOOKS / "site.yml", inventory=inventory, env=JSON_OUTPUT)), "a30")
    assert [result["changed"] for result in second] == [False]
    assert second[0]["actions"] == [] and "gpu_clients_restarted" not in second[0]
    assert layouts(state) == dict((index, ["4g.24gb"]) for index in range(4))
    assert host.describe_host(str(state))["units"] == {"nvidia-dcgm": True, "nvidia-k8s-device-plugin": True}


def test_check_mode_on_a_new_host_predicts_the_run_and_changes_nothing(tmp_path, playbook_runner):
    inventory, state = one_host(
        tmp_path,
        "passthrough",
        "h100",
        {"gpuops_mig_simulator_preset": "dgx-h100", "passthrough_vms": [{"name": "vm", "gpus": [0, 2]}], "mig_gpus": [1]},
    )
    passed(playbook_runner(PLAYBOOKS / "simulated_hosts.yml", inventory=inventory))
    before = state.read_bytes()
    predicted = converge_results(passed(playbook_runner(PLAYBOOKS / "site.yml", inventory=inventory, check=True, env=JSON_OUTPUT)), "h100")
    assert state.read_bytes() == before
    assert not (Path(str(state) + ".root") / "usr/share/nvidia/nvswitch/fabricmanager.cfg").exists()
    assert not (Path(str(state) + ".root") / "var/run/cdi/nvidia.yaml").exists()
    applied = converge_results(passed(playbook_runner(PLAYBOOKS / "site.yml", inventory=inventory, env=JSON_OUTPUT)), "h100")

    def steps(result):
        return [(action["action"], action.get("gpu"), action.get("profile")) for action in result["actions"] if "unit" not in action]

    # MIG mode and every instance of GPU 1 were predicted, step for step
    assert steps(predicted[0]) == steps(applied[0]) and steps(applied[0])[0] == ("set_mig_mode", 1, None)
    assert predicted[0]["cdi_spec"]["changed"] and applied[0]["cdi_spec"]["changed"]


def test_ampere_passthrough_refuses_mig_before_anything_changes(tmp_path, playbook_runner):
    inventory, state = one_host(
        tmp_path,
        "passthrough",
        "a100",
        {"gpuops_mig_simulator_preset": "dgx-a100", "passthrough_vms": [{"name": "vm", "gpus": [0, 1]}],
         "mig_layout": ["3g.20gb"]},
        common={"gpuops_mig_simulator_units": {}},
    )
    passed(playbook_runner(PLAYBOOKS / "simulated_hosts.yml", inventory=inventory))
    before = state.read_bytes()
    result = playbook_runner(PLAYBOOKS / "site.yml", inventory=inventory)
    assert result.returncode != 0
    assert "MIG is refused on ampere GPUs of a host with multi-GPU NVSwitch partitions" in result.stdout
    assert state.read_bytes() == before


def test_bad_role_input_fails_naming_the_variable(tmp_path, playbook_runner):
    inventory, state = one_host(
        tmp_path, "bare_metal", "b200",
        {"gpuops_mig_simulator_preset": "dgx-b200", "mig_layout": ["1g.23gb"], "mig_requirements": [{"memory_gb": 20}]},
    )
    result = playbook_runner(PLAYBOOKS / "site.yml", inventory=inventory)
    assert result.returncode != 0
    assert "give at most one of mig_layout, mig_requirements" in result.stdout
    assert "got mig_layout, mig_requirements" in result.stdout
    only_preset = {"mig_layout": [], "mig_requirements": [], "mig_layout_preset": "all-7"}
    result = playbook_runner(PLAYBOOKS / "site.yml", only_preset, inventory=inventory)
    assert "mig_layout_preset='all-7': unknown layout preset" in result.stdout
    result = playbook_runner(PLAYBOOKS / "site.yml", {"mig_mode": "sometimes"}, inventory=inventory)
    assert "mig_mode" in result.stdout and "enabled, disabled" in result.stdout
    assert layouts(state) == {}


def test_teardown_undoes_site(tmp_path, playbook_runner):
    inventory, state = one_host(
        tmp_path,
        "sriov",
        "h200",
        {"gpuops_mig_simulator_preset": "hgx-h200", "gpuops_mig_simulator_virtualization_mode": "vgpu_host",
         "mig_gpus": [0, 2], "mig_layout_preset": "all-1g",
         "sriov_vms": [{"name": "vm", "gpus": [0, 2], "vfs": ["0000:18:00.4", "0000:3a:00.4"]}]},
    )
    passed(playbook_runner(PLAYBOOKS / "site.yml", inventory=inventory))
    assert active_partition_gpus(state) == [[0, 2]]
    assert sorted(layouts(state)) == [0, 2]
    passed(playbook_runner(PLAYBOOKS / "teardown.yml", inventory=inventory))
    assert active_partition_gpus(state) == []
    assert layouts(state) == {}
    assert host.describe_host(str(state))["units"] == {"nvidia-dcgm": True, "nvidia-k8s-device-plugin": True}
    passed(playbook_runner(PLAYBOOKS / "teardown.yml", {"gpuops_mig_teardown_simulated_hosts": True}, inventory=inventory))
    assert not state.exists()
    # a host that does not exist (yet) has nothing to undo: no failure, nothing left behind
    passed(playbook_runner(PLAYBOOKS / "teardown.yml", {"gpuops_mig_teardown_simulated_hosts": True}, inventory=inventory))
    assert not state.exists()


def test_plan_places_a_demand_and_applies_it(tmp_path, playbook_runner):
    inventory = write_inventory(
        tmp_path,
        {"bare_metal": {"h100": {"gpuops_mig_simulator_preset": "dgx-h100", "mig_mode": "disabled"},
                        "a30": {"gpuops_mig_simulator_preset": "a30-x4", "mig_mode": "disabled"}}},
    )
    demand = [{"profile": "1g.6gb", "count": 6}, {"requirements": {"compute_slices": 3}, "count": 3}]
    passed(playbook_runner(PLAYBOOKS / "plan.yml", {"gpuops_mig_demand": demand}, inventory=inventory))
    h100, a30 = layouts(tmp_path / "h100.json"), layouts(tmp_path / "a30.json")
    assert sum(profiles.count("1g.6gb") for profiles in a30.values()) == 6
    assert sum(profiles.count("3g.40gb") for profiles in h100.values()) == 3
    again = passed(playbook_runner(PLAYBOOKS / "plan.yml", {"gpuops_mig_demand": demand}, inventory=inventory))
    assert all(counts[1] == 0 for counts in recap(again).values())
    result = playbook_runner(PLAYBOOKS / "plan.yml", {"gpuops_mig_demand": [{"profile": "7g.80gb", "count": 9}]}, inventory=inventory)
    assert result.returncode != 0 and "the fleet has no room for part of the demand" in result.stdout
    assert layouts(tmp_path / "h100.json") == h100


def test_a_host_that_contradicts_its_group_fails_before_anything_changes(tmp_path, playbook_runner):
    # an HGX H200 without the vGPU manager (its GPUs report "none") put in the sriov group
    inventory, state = one_host(
        tmp_path, "sriov", "h200",
        {"gpuops_mig_simulator_preset": "hgx-h200", "mig_layout_preset": "all-1g",
         "sriov_vms": [{"name": "vm", "gpus": [0, 2], "vfs": ["0000:18:00.4", "0000:3a:00.4"]}]},
    )
    passed(playbook_runner(PLAYBOOKS / "simulated_hosts.yml", inventory=inventory))
    before = state.read_bytes()
    result = playbook_runner(PLAYBOOKS / "site.yml", inventory=inventory)
    assert result.returncode != 0
    assert "deployment_mode='sriov'" in result.stdout
    assert "report virtualization mode none, which a sriov host does not have" in result.stdout
    assert state.read_bytes() == before
