"""The molecule scenarios are complete and can run offline: each is found where molecule
looks in a collection, uses the unmanaged default driver with simulated hosts on the local
connection, never installs anything, and runs check, converge, idempotence and verify.

The scenarios themselves run with `make molecule` (molecule test --all)."""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MOLECULE = REPO / "extensions" / "molecule"
SCENARIOS = ["a30_requirements", "ampere_bare_metal", "blackwell_bare_metal", "hopper_passthrough", "hopper_sriov"]


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
    assert sorted(path.parent.name for path in MOLECULE.glob("*/molecule.yml")) == SCENARIOS


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
