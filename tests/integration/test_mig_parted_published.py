"""NVIDIA's published mig-parted configs (tests/unit/migparted/published, see SOURCES there)
applied through ansible-playbook on a simulated host of every preset: every named config of
mig-parted's config-default.yaml on every preset it matches, in chains of switches, each
applied in one mig_instance call (apply_mig_mode: Ampere GPUs are reset, the others switch
without reset), checked exactly through gpu_info and re-run without change; the configs of the other
published files that differ from config-default's join the chains; on each preset one
config naming a profile its board lacks is refused with the host unchanged.

What each step must produce is worked out here from the YAML and the board catalogue (which
profile names a board offers, how many fit), independently of the collection's mig-parted
code. One ansible-playbook run walks all presets at once.
"""

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.gpuops.mig.plugins.module_utils._simulator.boards import ARCH_AMPERE, BOARDS
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.presets import PRESETS as ALL_PRESETS
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.presets import reset_supported_by_default

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playbook_runner import run_playbook  # noqa: E402  (a module-scoped run needs it outside the fixture)

PUBLISHED = Path(__file__).resolve().parents[1] / "unit" / "migparted" / "published"
DEFAULT = PUBLISHED / "mig-parted--deployments_systemd_config-default.yaml"
PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "mig_parted_published.yml"
CONFIG_MAPS = ("gpu-operator--assets_state-mig-manager_0400_configmap.yaml",
               "mig-parted--deployments_container_nvidia-mig-manager-example-hopper-blackwell.yaml")
#: Set to 1 to apply every config on every preset it matches (about five times the module
#: runs of the default plan; see _chains).
FULL_MATRIX = "GPUOPS_MIG_PUBLISHED_FULL_MATRIX"
#: Presets where a config applies in one call: all but Ampere guests, whose MIG mode changes
#: wait for a reboot (reboot_required; mig_mode's tests cover them).
PRESETS = dict(
    (name, preset) for name, preset in ALL_PRESETS.items()
    if reset_supported_by_default(preset["virtualization_mode"]) or BOARDS[preset["board"]]["architecture"] != ARCH_AMPERE
)
PLAIN_FILES = ("mig-parted--examples_config.yaml", "mig-parted--examples_dgx-station-80gb-config.yaml",
               "deepops--config.example_nvidia-mig-config.yml")


def _configs(path):
    return yaml.safe_load(Path(path).read_text())["mig-configs"]


def _config_map_file(path, work):
    """The mig-parted config a ConfigMap carries (data config.yaml), as the file a MIG
    manager pod sees."""
    for document in yaml.safe_load_all(path.read_text()):
        if document and document.get("kind") == "ConfigMap" and "config.yaml" in document.get("data", {}):
            target = work / (path.stem + ".config.yaml")
            target.write_text(document["data"]["config.yaml"])
            return target
    raise AssertionError("%s holds no ConfigMap with config.yaml" % path)


def _filter_ids(entry):
    value = entry.get("device-filter")
    if value in (None, ""):
        return None
    return set(int(item, 16) for item in (value if isinstance(value, list) else [value]))


def _entry_for(config, index, device_id):
    for entry in config:
        ids = _filter_ids(entry)
        if (ids is None or device_id in ids) and (entry["devices"] == "all" or index in entry["devices"]):
            return entry
    return None


def _offers(board, counts):
    return set(counts) <= set(profile["name"] for profile in board["gpu_instance_profiles"])


def _fits(board, counts):
    """Whether the named instances fit together on the board (instance counts, memory
    slots), from the board catalogue alone."""
    profiles = dict((profile["name"], profile) for profile in board["gpu_instance_profiles"])
    slots = sum(min(size for _start, size in profiles[name]["placements"]) * count for name, count in counts.items())
    return slots <= board["memory_slots"] and all(count <= profiles[name]["instances"] for name, count in counts.items())


def _step(path, name, config, preset, state):
    """The chain step applying ``config`` on ``preset`` whose GPUs are in ``state`` (list of
    (mig enabled, sorted layout)), and the state after it; None when the config selects
    no GPU of the preset. ``refused``: a selected GPU lacks a profile its entry names
    (``lacks``) or cannot take the instances together."""
    board = BOARDS[PRESETS[preset]["board"]]
    after, selected, lacks, refused = list(state), False, False, False
    for index in range(len(state)):
        entry = _entry_for(config, index, board["pci_device_id"])
        if entry is None:
            continue
        counts = dict((profile, count) for profile, count in (entry.get("mig-devices") or {}).items() if count)
        lacks = lacks or not _offers(board, counts)
        refused = refused or lacks or not _fits(board, counts)
        layout = sorted(profile for profile, count in counts.items() for _copy in range(count))
        after[index] = (bool(entry["mig-enabled"]), layout)
        selected = True
    if not selected:
        return None, state
    if refused:
        after = state
    step = {
        "file": str(path), "config": name, "refused": refused, "lacks": lacks,
        "mig": [mig for mig, _layout in after], "layouts": [layout for _mig, layout in after],
        # a run that fails reports the failure, not the file's warnings
        "warning": "defined twice" if "deepops" in path.name and not refused else "",
    }
    return step, after


def _candidates(work):
    """(file, config name, config) of config-default.yaml, then those of the other published
    files that differ from config-default's config of the same name (each once)."""
    default = _configs(DEFAULT)
    candidates = [(DEFAULT, name, config) for name, config in default.items()]
    paths = [_config_map_file(PUBLISHED / name, work) for name in CONFIG_MAPS] + [PUBLISHED / name for name in PLAIN_FILES]
    seen = [config for _path, _name, config in candidates]
    for path in paths:
        for name, config in _configs(path).items():
            if config != default.get(name) and (config not in seen or "deepops" in path.name):
                seen.append(config)
                candidates.append((path, name, config))
    return candidates


def _cover(candidates):
    """{(file, config name): preset} choosing, for each candidate, the preset with the fewest
    GPUs (then the fewest steps so far) where it applies: every config runs at least once."""
    fresh = dict((preset, [(False, [])] * len(spec["pci_bus_ids"])) for preset, spec in PRESETS.items())
    load = dict((preset, 0) for preset in PRESETS)
    chosen = {}
    for path, name, config in candidates:
        fitting = [preset for preset in sorted(PRESETS)
                   if (_step(path, name, config, preset, fresh[preset])[0] or {"lacks": True})["lacks"] is False]
        if fitting:
            best = min(fitting, key=lambda preset: (len(fresh[preset]), load[preset]))
            load[best] += 1
            chosen[(str(path), name)] = best
    return chosen


def _chains(work, full):
    """{preset: [step]}, and the (config, preset) pairs of config-default.yaml applied.

    ``full``: every config on every preset it applies to. Otherwise (the default, about a
    fifth of the module runs) every config once on the smallest preset it applies to, and
    on every preset all-balanced, whose entries select GPUs by PCI device id; always one
    config per preset that names a profile the board lacks, and each config that cannot fit
    (once, or everywhere with ``full``), refused with the host unchanged.
    """
    candidates = _candidates(work)
    cover = {} if full else _cover(candidates)
    chains, applied = {}, []
    for preset in sorted(PRESETS):
        state = [(False, [])] * len(PRESETS[preset]["pci_bus_ids"])
        steps, refusal = [], None
        for path, name, config in candidates:
            step, after = _step(path, name, config, preset, state)
            if step is None:
                continue
            if not step["refused"]:
                if full or cover.get((str(path), name)) == preset or (path == DEFAULT and name == "all-balanced"):
                    steps.append(step)
                    state = after
                    if path == DEFAULT:
                        applied.append((name, preset))
            elif (path == DEFAULT and refusal is None) or (not step["lacks"] and cover.get((str(path), name), preset) == preset):
                # one config naming a profile the board lacks, and every one that cannot fit
                refusal = refusal or step
                steps.append(step)
        chains[preset] = steps
    return chains, applied


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """(work directory, {preset: [step]}, default-config pairs applied)."""
    work = tmp_path_factory.mktemp("published")
    chains, applied = _chains(work, full=os.environ.get(FULL_MATRIX) == "1")
    return work, chains, applied


@pytest.fixture(scope="module")
def published_run(plan):
    """The chains run through ansible-playbook (CompletedProcess)."""
    work, chains, _applied = plan
    hosts = {}
    for preset, steps in chains.items():
        hosts[preset] = {
            "ansible_connection": "local",
            "simulator": str(work / ("%s.json" % preset)),
            "preset": preset,
            "steps": steps,
        }
    inventory = work / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    longest = max(len(steps) for steps in chains.values())
    return run_playbook(PLAYBOOK, extra_vars={"step_count": longest}, inventory=inventory, env={"ANSIBLE_FORKS": len(hosts)})


def test_every_default_config_matches_a_preset_and_every_device_id_has_a_board(plan):
    _work, _chains_by_preset, applied = plan
    default = _configs(DEFAULT)
    assert sorted(set(name for name, _preset in applied)) == sorted(default)
    named_ids = set()
    for config in default.values():
        for entry in config:
            named_ids |= _filter_ids(entry) or set()
    assert len(named_ids) == 27
    assert named_ids <= set(board["pci_device_id"] for board in BOARDS.values())
    assert named_ids <= set(BOARDS[preset["board"]]["pci_device_id"] for preset in PRESETS.values())


def test_every_step_applies_exactly_and_idempotently(plan, published_run):
    _work, chains, _applied = plan
    assert published_run.returncode == 0, published_run.stdout[-20000:] + published_run.stderr[-5000:]
    for preset, steps in chains.items():
        assert sum(step["refused"] for step in steps) >= 1, preset


def test_the_other_published_files_join_the_chains(plan):
    _work, chains, _applied = plan
    files = set(Path(step["file"]).name for steps in chains.values() for step in steps)
    assert {"mig-parted--examples_config.yaml", "mig-parted--examples_dgx-station-80gb-config.yaml",
            "deepops--config.example_nvidia-mig-config.yml"} <= files
    refused = [(step["config"], preset) for preset, steps in chains.items() for step in steps
               if step["refused"] and "deepops" in step["file"]]
    assert "all-7g.80gb" in [config for config, _preset in refused]  # "7g.80gb": 2 cannot fit
