"""Compare a real GPU's nvml_dump.py output with the simulator's answers to the same queries.

    compare_dump.py REAL_DUMP.json [--preset NAME] [--nvml-dump PATH] [--board-only]
    compare_dump.py REAL_DUMP.json --simulated-dump SIMULATED.json

Runs nvml_dump.py (the project-independent dump of ../shared/tools/gpu-readonly/, found
there or in .gpu-readonly/ of this checkout, or given with --nvml-dump) against a fresh
simulated host of ``--preset`` (default: the preset of the same board that best matches the
real machine: virtualization mode, then GPU count), then prints every field whose answer
differs, and how many compared fields are equal. Exit status 1 when any field differs.

Not compared: identity (UUID, serial, PCI bus id and its parts, module id, fabric cluster
UUID) and timing (``*_ms``). Devices are compared by index, as many as the real dump has.
``--board-only`` also leaves out what belongs to the deployment rather than the board: the
GPU count, virtualization mode and fabric info (an HGX preset vs. a one-GPU VM).
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NVML_DUMP_CANDIDATES = (
    os.path.join(os.path.dirname(REPO), "shared", "tools", "gpu-readonly", "nvml_dump.py"),
    os.path.join(REPO, ".gpu-readonly", "nvml_dump.py"),
)

IDENTITY_FIELDS = ("uuid", "serial", "pci.busId", "pci.busIdLegacy", "pci.domain", "pci.bus", "pci.device",
                   "module_id", "fabric_info.clusterUuid")
DEPLOYMENT_FIELDS = ("virtualization_mode", "fabric_info")


def find_nvml_dump(given=None):
    """Path of nvml_dump.py: ``given``, else the first of NVML_DUMP_CANDIDATES that exists."""
    for candidate in ([given] if given else NVML_DUMP_CANDIDATES):
        if candidate and os.path.isfile(candidate):
            return candidate
    raise SystemExit("nvml_dump.py not found (looked at %s); give --nvml-dump PATH"
                     % ", ".join([given] if given else NVML_DUMP_CANDIDATES))


def _collections_root(workdir):
    """A collections root whose gpuops/mig is this checkout (nothing is built or copied)."""
    link = os.path.join(workdir, "ansible_collections", "gpuops", "mig")
    os.makedirs(os.path.dirname(link))
    os.symlink(REPO, link)
    return workdir


def _simulator_modules(root):
    if root not in sys.path:
        sys.path.insert(0, root)
    from ansible_collections.gpuops.mig.plugins.module_utils._simulator import boards, host, presets

    return boards, host, presets


def choose_preset(real, presets, boards):
    """The preset of the real dump's board that matches its deployment best."""
    from ansible_collections.gpuops.mig.plugins.module_utils._capabilities import VIRTUALIZATION_MODES

    first = real["devices"][0]
    device_id = first["pci"]["pciDeviceId"]
    candidates = [name for name, spec in sorted(presets.PRESETS.items())
                  if boards.BOARDS[spec["board"]]["pci_device_id"] == device_id]
    if not candidates:
        raise SystemExit("no simulator preset has a board with PCI device id 0x%08X" % device_id)

    def score(name):
        spec = presets.PRESETS[name]
        return (VIRTUALIZATION_MODES[spec["virtualization_mode"]] == first.get("virtualization_mode"),
                len(spec["pci_bus_ids"]) == len(real["devices"]))

    return max(candidates, key=score)


def simulated_dump(preset, nvml_dump, workdir=None, real=None):
    """(preset, nvml_dump.py's output against a fresh simulated host of ``preset``); with
    ``preset`` None it is chosen from ``real``."""
    workdir = workdir or tempfile.mkdtemp(prefix="compare-dump-")
    root = _collections_root(workdir)
    boards, host, presets = _simulator_modules(root)
    preset = preset or choose_preset(real, presets, boards)
    state = os.path.join(workdir, "host.json")
    host.create_host(state, preset)
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    completed = subprocess.run([sys.executable, nvml_dump, "--simulator", state], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, env=environment, check=False)
    if completed.returncode != 0:
        raise SystemExit("nvml_dump.py failed on the simulator (exit %d): %s" % (completed.returncode, completed.stderr))
    return preset, json.loads(completed.stdout)


def _flatten(value, path, out):
    """{field path: answer}; an NVML error ({"error": ...}) is one answer, like a value."""
    if isinstance(value, dict) and set(value) != {"error"}:
        for key in sorted(value):
            _flatten(value[key], "%s.%s" % (path, key) if path else key, out)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for position, item in enumerate(value):
            key = item.get("enum", position) if "enum" in item else position
            _flatten(item, "%s[%s]" % (path, key), out)
    else:
        out[path] = value
    return out


def _skipped(field, board_only):
    if field.endswith("_ms"):
        return True
    leaf = field.split("].", 1)[1] if field.startswith("devices[") and "]." in field else None
    if leaf is None:
        return False
    if any(leaf == name or leaf.startswith(name + ".") for name in IDENTITY_FIELDS):
        return True
    return board_only and any(leaf == name or leaf.startswith(name + ".") for name in DEPLOYMENT_FIELDS)


def compare(real, simulated, board_only=False):
    """(differences as [(field, real value, simulated value)], number of fields compared).
    Devices are compared by index for the real dump's devices."""
    real = dict(real)
    simulated = dict(simulated)
    real_devices, simulated_devices = real.pop("devices"), simulated.pop("devices")
    real_fields = _flatten(real, "", {})
    simulated_fields = _flatten(simulated, "", {})
    for index, device in enumerate(real_devices):
        _flatten(device, "devices[%d]" % index, real_fields)
        if index < len(simulated_devices):
            _flatten(simulated_devices[index], "devices[%d]" % index, simulated_fields)
    if not board_only:
        real_fields["device_count"] = len(real_devices)
        simulated_fields["device_count"] = len(simulated_devices)
    missing = object()
    differences, compared = [], 0
    for field in sorted(set(real_fields) | set(simulated_fields)):
        if _skipped(field, board_only):
            continue
        compared += 1
        mine, theirs = real_fields.get(field, missing), simulated_fields.get(field, missing)
        if mine != theirs:
            differences.append((field, "(absent)" if mine is missing else mine,
                                "(absent)" if theirs is missing else theirs))
    return differences, compared


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("real_dump", help="nvml_dump.py output of the real GPU machine")
    parser.add_argument("--preset", help="simulator preset (default: chosen from the real dump)")
    parser.add_argument("--nvml-dump", help="path of nvml_dump.py")
    parser.add_argument("--simulated-dump", help="compare with this dump instead of running the simulator")
    parser.add_argument("--board-only", action="store_true", help="leave out GPU count, virtualization mode, fabric info")
    options = parser.parse_args(argv)
    with open(options.real_dump) as stream:
        real = json.load(stream)
    if options.simulated_dump:
        preset = "(from %s)" % options.simulated_dump
        with open(options.simulated_dump) as stream:
            simulated = json.load(stream)
    else:
        preset, simulated = simulated_dump(options.preset, find_nvml_dump(options.nvml_dump), real=real)
    differences, compared = compare(real, simulated, board_only=options.board_only)
    for field, mine, theirs in differences:
        print("%s: real %s, simulated %s" % (field, json.dumps(mine), json.dumps(theirs)))
    print("preset %s: %d of %d compared fields equal" % (preset, compared - len(differences), compared))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
