"""The molecule scenarios are complete and can run offline: each is found where molecule
looks in a collection, never installs anything, and runs converge, idempotence and verify.
The simulated-host scenarios use the unmanaged default driver on the local connection and
also run check; the real-host scenarios (hosts_*) create and destroy systemd containers
reached over SSH on 127.0.0.1 with become.

The scenarios themselves run with `make molecule` and `make molecule-hosts`."""

import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MOLECULE = REPO / "extensions" / "molecule"
SCENARIOS = ["a30_requirements", "ampere_bare_metal", "blackwell_bare_metal", "hopper_passthrough", "hopper_sriov"]
HOST_SCENARIOS = ["hosts_ampere_bare_metal", "hosts_h200_sriov", "hosts_hopper_passthrough"]
HOST_VARS = REPO / "inventories" / "hosts" / "group_vars" / "all.yml"


def merged(scenario):
    """The scenario's molecule.yml on top of the shared config.yml, as molecule merges them."""

    def merge(base, top):
        result = dict(base)
        for key, value in top.items():
            result[key] = merge(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) else value
        return result

    shared = yaml.safe_load((MOLECULE / "config.yml").read_text())
    return merge(shared, yaml.safe_load((MOLECULE / scenario / "molecule.yml").read_text()))


def test_every_scenario_is_there():
    assert sorted(path.parent.name for path in MOLECULE.glob("*/molecule.yml")) == sorted(SCENARIOS + HOST_SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_runs_offline_on_a_simulated_host(scenario):
    config = merged(scenario)
    assert config["driver"] == {"name": "default", "options": {"managed": False}}
    assert config["prerun"] is False
    assert config["dependency"]["enabled"] is False
    sequence = config["scenario"]["test_sequence"]
    assert [step for step in sequence if step in ("check", "converge", "idempotence", "verify")] == [
        "check", "converge", "idempotence", "verify"]
    assert "dependency" not in sequence and "create" not in sequence
    inventory = config["provisioner"]["inventory"]
    assert inventory["group_vars"]["all"]["ansible_connection"] == "local"
    (platform,) = config["platforms"]
    assert len(platform["groups"]) == 1 and platform["groups"][0] in ("bare_metal", "passthrough", "sriov")
    assert "gpuops_mig_simulator_preset" in inventory["host_vars"][platform["name"]]
    for playbook in config["ansible"]["playbooks"].values():
        assert (MOLECULE / scenario / playbook).resolve().is_file(), playbook


def test_nothing_asks_galaxy_for_requirements():
    names = ("requirements.yml", "requirements.yaml")
    found = [path for path in REPO.rglob("requirements.y*ml") if path.name in names and ".venv" not in path.parts and "build" not in path.parts]
    assert found == []


@pytest.mark.parametrize("scenario", HOST_SCENARIOS)
def test_real_host_scenario_creates_and_destroys_its_container(scenario):
    config = merged(scenario)
    assert config["driver"] == {"name": "default", "options": {"managed": True}}
    assert config["prerun"] is False and config["dependency"]["enabled"] is False
    sequence = config["scenario"]["test_sequence"]
    assert sequence[:2] == ["destroy", "create"] and sequence[-1] == "destroy"
    # converge, idempotence and verify, in that order; a side effect is verified again
    steps = [step for step in sequence if step in ("converge", "idempotence", "verify", "side_effect")]
    assert steps[:3] == ["converge", "idempotence", "verify"]
    assert steps[3:] in ([], ["side_effect"], ["side_effect", "verify"])
    playbooks = config["ansible"]["playbooks"]
    assert playbooks["create"] == playbooks["destroy"].replace("destroy", "create") == "../hosts_shared/create.yml"
    for playbook in playbooks.values():
        assert (MOLECULE / scenario / playbook).resolve().is_file(), playbook
    links = config["provisioner"]["inventory"]["links"]
    assert (MOLECULE / scenario / links["group_vars"] / "all.yml").resolve() == HOST_VARS
    (platform,) = config["platforms"]
    host_vars = yaml.safe_load((MOLECULE / scenario / links["host_vars"] / (platform["name"] + ".yml")).read_text())
    assert "gpuops_mig_simulator_preset" in host_vars and 2300 < host_vars["ansible_port"] < 2400


def test_real_hosts_are_reached_over_ssh_on_loopback_with_become():
    shared = yaml.safe_load(HOST_VARS.read_text())
    assert shared["ansible_connection"] == "ssh" and shared["ansible_host"] == "127.0.0.1"
    assert shared["ansible_become"] is True and shared["ansible_user"] != "root"
    assert shared["ansible_python_interpreter"] == "/usr/bin/python3"
    assert shared["gpuops_mig_simulator_host_files"] == "real"
    ports = [yaml.safe_load((MOLECULE / scenario / "host_vars" / name).read_text())["ansible_port"]
             for scenario in HOST_SCENARIOS for name in os.listdir(MOLECULE / scenario / "host_vars")]
    assert len(ports) == len(set(ports)) == len(HOST_SCENARIOS)
