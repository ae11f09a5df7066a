# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create, alter, inspect and remove simulated GPU hosts, and the host operations that
are not NVML calls (GPU reset, reboot, GPU client services).

State file layout (JSON, format 1; state.py locks and writes it atomically):

  format: 1
  preset: preset name (presets.PRESETS)
  root: directory of the host's files (``<state file>.root``): dev/ and proc/, see devnodes;
        driver/ (the simulated driver installation), see driver_files
  host_files: "simulated" (default: units in this file, host files under root, many hosts
              on one machine) or "real" (only the GPUs and driver are simulated; units are
              systemd's, host files at their real paths, Fabric Manager a real service that
              sets fabric.fm_running; see _host.Host)
  host_seed: seed of the deterministic GPU UUIDs and serials (the state file's path)
  driver_version, cuda_driver_version: what nvmlSystemGet*Version report
  reset_supported: whether GPU reset works; at creation it follows the preset's
                   virtualization mode (false in a passthrough or vGPU guest: reboot
                   required), the reset_supported option overrides it
  generation: last instance generation handed out (host-wide counter; handles and MIG
              UUIDs embed it so recreated instances are new)
  gpus: [{index, board, uuid, serial, pci_bus_id, minor, module_id,
          mig: {current: bool, pending: bool}, lost: bool, resets: int,
          gpu_instances: [{gi_id, profile_id, start, size, generation,
                           compute_instances: [{ci_id, profile_id, start, size,
                                                mig_uuid, generation}]}]}]
  processes: [{pid, name, gpu, gi_id|null, ci_id|null, used_memory_mb}]
  units: {name: {active: bool, gpus: [index, ...]}}  GPU client services (systemd units;
         always empty with host_files "real")
  faults: [{function, remaining, error, gpu|null, persistent}]  armed NVML faults
  latency: {"default": s, "<nvml function>": s} or "realistic"
  mutating_calls: {nvml function: count}
  fabric: {"nvswitch": false} or {"nvswitch": true, "fm_running", "mode" (0 bare metal /
          full passthrough, 1 shared NVSwitch, 2 vGPU), "restart_pending", "partitions":
          [{"id", "physical_ids", "nvlinks_per_gpu", "active", "vfs"}],
          "nvlink_line_rate_mbps"}; every partition starts inactive (a freshly started
          Fabric Manager has activated none; the live listing in the reference shows
          1-GPU partitions active on a host that runs single-GPU VMs).

Option formats (create_host / update_host):
  processes: [{"pid": int, "gpu": index, "name": str, "gi_id": int, "ci_id": int,
              "used_memory_mb": int}] (gi_id/ci_id only on MIG-enabled GPUs, must exist)
  faults: [{"function": nvml function, "error": "NVML_ERROR_*", "call": N (fail the Nth
          matching call from now, default 1), "gpu": index (calls on that GPU only),
          "persistent": bool (keep failing after firing)}] or {"gpu": index, "lost": bool}
          (mark a GPU fallen off the bus / back). A fired GPU_IS_LOST fault marks its GPU
          lost too.
  latency: see state; units: {name: {"active": bool, "gpus": [index, ...] (default all)}}
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import os
import shutil

from .._capabilities import VIRTUALIZATION_MODES
from .._errors import InputError, MigError
from . import devnodes, driver_files, machine
from .presets import FABRIC_MODES, FABRIC_TABLES, PRESETS, reset_supported_by_default
from .state import STATE_FORMAT_VERSION, SimulatorStateError, locked_state, read_state, write_state

#: GPU client services every simulated host knows (inactive until started).
DEFAULT_UNITS = ("nvidia-dcgm", "nvidia-k8s-device-plugin")

_OPTIONS = ("fabric_mode", "reset_supported", "processes", "faults", "latency", "units", "virtualization_mode", "host_files")
#: ``host_files`` values: the host's files and units are the simulated host's own, or the machine's.
SIMULATED_FILES, REAL_FILES = "simulated", "real"
HOST_FILES = (SIMULATED_FILES, REAL_FILES)


class SimulatedHostError(MigError):
    """A host operation failed the way the hardware would; ``nvml_error`` is the NVML
    error name it stands for (e.g. NVML_ERROR_IN_USE), or None."""

    def __init__(self, message, nvml_error=None):
        self.nvml_error = nvml_error
        super(SimulatedHostError, self).__init__(message)

    def details(self):
        return {"nvml_error": self.nvml_error}


def _root(path):
    return os.path.abspath(path) + ".root"


def paths(path):
    """Where the host's files are: root, dev_root (CDI hostPath prefix), mig_minors_path,
    driver_root. Raises SimulatorStateError when no simulated host exists at ``path``."""
    if not os.path.exists(path):
        raise SimulatorStateError("simulated host state file %s does not exist" % os.path.abspath(path))
    return dict(devnodes.root_paths(_root(path)), driver_root=driver_files.driver_root(_root(path)))


def _serial(seed, index):
    digest = hashlib.sha1(("%s/serial%d" % (seed, index)).encode("utf-8")).hexdigest()
    return "16520%08d" % (int(digest[:12], 16) % 100000000)


def _fabric(preset, host_files):
    """The fabric of a new host. With real host files Fabric Manager is a real service, so
    the simulated one runs only while that service does (it marks itself running)."""
    if preset["fabric"] is None:
        return {"nvswitch": False}
    return {
        "nvswitch": True,
        "fm_running": host_files == SIMULATED_FILES,
        "mode": 0,
        "restart_pending": False,
        "partitions": [
            {"id": partition_id, "physical_ids": list(physical_ids), "nvlinks_per_gpu": nvlinks,
             "active": False, "vfs": []}
            for partition_id, physical_ids, nvlinks in FABRIC_TABLES[preset["fabric"]]
        ],
        "nvlink_line_rate_mbps": preset["nvlink_line_rate_mbps"],
    }


def _check_index(option, value, state):
    valid = list(range(len(state["gpus"])))
    if isinstance(value, bool) or not isinstance(value, int) or value not in valid:
        raise InputError(option, value, "not a GPU index of this host", valid)
    return value


def _check_bool(option, value):
    if not isinstance(value, bool):
        raise InputError(option, value, "must be true or false", [True, False])
    return value


def _given(entry, key, default):
    """entry[key], or ``default`` when missing or None (Ansible passes unset suboptions
    as None)."""
    value = entry.get(key)
    return default if value is None else value


def _check_keys(option, entry, allowed):
    if not isinstance(entry, dict):
        raise InputError(option, entry, "each entry must be a mapping", allowed)
    unknown = sorted(key for key, value in entry.items() if key not in allowed and value is not None)
    if unknown:
        raise InputError(option, entry, "unknown keys %s" % ", ".join(unknown), allowed)


def _processes(state, processes):
    result = []
    seen = set()
    for entry in processes or []:
        _check_keys("processes", entry, ("pid", "gpu", "name", "gi_id", "ci_id", "used_memory_mb"))
        pid = entry.get("pid")
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or pid in seen:
            raise InputError("processes.pid", pid, "must be a positive integer, unique per host")
        seen.add(pid)
        index = _check_index("processes.gpu", entry.get("gpu"), state)
        gpu = state["gpus"][index]
        gi_id, ci_id = entry.get("gi_id"), entry.get("ci_id")
        if gi_id is not None:
            if not gpu["mig"]["current"]:
                raise InputError("processes.gi_id", gi_id, "GPU %d is not in MIG mode" % index)
            gpu_instance = machine.find_gpu_instance(gpu, gi_id)
            if gpu_instance is None:
                raise InputError("processes.gi_id", gi_id, "no such GPU instance on GPU %d" % index,
                                 [gi["gi_id"] for gi in gpu["gpu_instances"]])
            if ci_id is not None and machine.find_compute_instance(gpu_instance, ci_id) is None:
                raise InputError("processes.ci_id", ci_id, "no such compute instance in GI %d" % gi_id,
                                 [ci["ci_id"] for ci in gpu_instance["compute_instances"]])
        elif ci_id is not None:
            raise InputError("processes.ci_id", ci_id, "needs gi_id")
        memory = _given(entry, "used_memory_mb", 0)
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 0:
            raise InputError("processes.used_memory_mb", memory, "must be a non-negative integer")
        result.append({"pid": pid, "gpu": index, "name": str(_given(entry, "name", "python3")),
                       "gi_id": gi_id, "ci_id": ci_id, "used_memory_mb": memory})
    return result


def _faults(state, faults):
    """Validated (armed faults, {gpu index: lost flag}) from fault specs."""
    from .nvml_lib import IMPLEMENTED_FUNCTIONS  # here: a run that arms no fault need not load the NVML simulator

    errors = sorted(name for name in machine.NVML_RETURN_CODES if name != "NVML_SUCCESS")
    armed, lost = [], {}
    for entry in faults:
        if isinstance(entry, dict) and entry.get("lost") is not None:
            _check_keys("faults", entry, ("gpu", "lost"))
            lost[_check_index("faults.gpu", entry.get("gpu"), state)] = _check_bool("faults.lost", entry["lost"])
            continue
        _check_keys("faults", entry, ("function", "call", "error", "gpu", "persistent"))
        if entry.get("function") not in IMPLEMENTED_FUNCTIONS:
            raise InputError("faults.function", entry.get("function"), "not an NVML function the simulator answers",
                             IMPLEMENTED_FUNCTIONS)
        if entry.get("error") not in errors:
            raise InputError("faults.error", entry.get("error"), "unknown NVML error name", errors)
        call = _given(entry, "call", 1)
        if isinstance(call, bool) or not isinstance(call, int) or call < 1:
            raise InputError("faults.call", call, "must be an integer >= 1 (1 = the next call)")
        gpu = entry.get("gpu")
        if gpu is not None:
            _check_index("faults.gpu", gpu, state)
        armed.append({"function": entry["function"], "remaining": call, "error": entry["error"], "gpu": gpu,
                      "persistent": _check_bool("faults.persistent", _given(entry, "persistent", False))})
    return armed, lost


def _latency(latency):
    from .nvml_lib import IMPLEMENTED_FUNCTIONS

    if latency == "realistic":
        return latency
    valid = ("default",) + IMPLEMENTED_FUNCTIONS
    if not isinstance(latency, dict):
        raise InputError("latency", latency, "must be 'realistic' or a mapping of function to seconds",
                         ["realistic", "default"])
    result = {}
    for name, seconds in latency.items():
        if name not in valid:
            raise InputError("latency", name, "not an NVML function the simulator answers", valid)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise InputError("latency.%s" % name, seconds, "must be a number of seconds >= 0")
        result[name] = seconds
    return result


def host_files_of(state):
    """The host's host_files mode (state files written before the option have simulated files)."""
    return state.get("host_files") or SIMULATED_FILES


def _units(state, units):
    if host_files_of(state) == REAL_FILES:
        if units:
            raise InputError("units", units, "a host with host_files=real runs systemd's units: start and stop "
                             "them with systemctl (ansible.builtin.systemd_service)")
        return {}
    result = dict(state.get("units") or {})
    for name in DEFAULT_UNITS:
        result.setdefault(name, {"active": False, "gpus": list(range(len(state["gpus"])))})
    if not isinstance(units or {}, dict):
        raise InputError("units", units, "must be a mapping of unit name to {active, gpus}")
    for name, spec in (units or {}).items():
        _check_keys("units.%s" % name, spec, ("active", "gpus"))
        # Unset fields keep what the unit had: starting a unit must not widen its GPU set.
        known = result.get(name, {"active": False, "gpus": list(range(len(state["gpus"])))})
        gpus = _given(spec, "gpus", known["gpus"])
        result[name] = {"active": _check_bool("units.%s.active" % name, _given(spec, "active", known["active"])),
                        "gpus": [_check_index("units.%s.gpus" % name, index, state) for index in gpus]}
    return result


def _check_fabric_mode(state, mode):
    if not state["fabric"]["nvswitch"]:
        raise InputError("fabric_mode", mode, "preset %s has no NVSwitch fabric" % state["preset"])
    if isinstance(mode, bool) or mode not in FABRIC_MODES:
        raise InputError("fabric_mode", mode, "unknown Fabric Manager mode", sorted(FABRIC_MODES))


def apply_options(state, options):
    """Validate every option first, then change ``state`` (bad input changes nothing)."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InputError("options", unknown, "unknown option", _OPTIONS)
    changes, lost = {}, {}
    host_files = options.get("host_files")
    if host_files is not None and host_files != host_files_of(state):
        raise InputError("host_files", host_files, "a simulated host's host_files cannot change (remove the host "
                         "first)", [host_files_of(state)])
    if options.get("reset_supported") is not None:
        changes["reset_supported"] = _check_bool("reset_supported", options["reset_supported"])
    if options.get("virtualization_mode") is not None:
        if options["virtualization_mode"] not in VIRTUALIZATION_MODES:
            raise InputError("virtualization_mode", options["virtualization_mode"], "unknown virtualization mode", sorted(VIRTUALIZATION_MODES))
        changes["virtualization_mode"] = options["virtualization_mode"]
    if options.get("processes") is not None:
        changes["processes"] = _processes(state, options["processes"])
    if options.get("faults") is not None:
        changes["faults"], lost = _faults(state, options["faults"])
    if options.get("latency") is not None:
        changes["latency"] = _latency(options["latency"])
    if options.get("units") is not None or "units" not in state:
        changes["units"] = _units(state, options.get("units"))
    mode = options.get("fabric_mode")
    if mode is not None:
        _check_fabric_mode(state, mode)
    state.update(changes)
    for index, flag in lost.items():
        state["gpus"][index]["lost"] = flag
    if mode is not None:
        state["fabric"]["mode"] = mode
        for partition in state["fabric"]["partitions"]:
            partition["active"] = False
            partition["vfs"] = []


def create_host(path, preset, fabric_mode=None, reset_supported=None, processes=None, faults=None, latency=None,
                units=None, replace=False, virtualization_mode=None, host_files=SIMULATED_FILES):
    """Create a simulated host from ``preset``; returns its state. An existing host at
    ``path`` is only replaced with ``replace=True``. ``virtualization_mode`` None: the
    preset's; ``reset_supported`` None: as the virtualization mode implies."""
    if preset not in PRESETS:
        raise InputError("preset", preset, "unknown preset", sorted(PRESETS))
    if host_files not in HOST_FILES:
        raise InputError("host_files", host_files, "unknown mode", HOST_FILES)
    path = os.path.abspath(path)
    if os.path.exists(path) and not replace:
        raise InputError("path", path, "a simulated host already exists there (update it, or replace it)")
    spec = PRESETS[preset]
    state = {
        "format": STATE_FORMAT_VERSION,
        "preset": preset,
        "root": _root(path),
        "host_files": host_files,
        "host_seed": path,
        "driver_version": spec["driver_version"],
        "cuda_driver_version": spec["cuda_driver_version"],
        "reset_supported": reset_supported_by_default(virtualization_mode or spec["virtualization_mode"]),
        "generation": 0,
        "gpus": [{
            "index": index,
            "board": spec["board"],
            "uuid": machine.gpu_uuid(path, index),
            "serial": _serial(path, index),
            "pci_bus_id": bus_id,
            "minor": index,
            "module_id": spec["module_ids"][index],
            "mig": {"current": False, "pending": False},
            "lost": False,
            "resets": 0,
            "gpu_instances": [],
        } for index, bus_id in enumerate(spec["pci_bus_ids"])],
        "processes": [],
        "faults": [],
        "latency": {},
        "mutating_calls": {},
        "fabric": _fabric(spec, host_files),
    }
    apply_options(state, dict(fabric_mode=fabric_mode, reset_supported=reset_supported, processes=processes,
                              faults=faults, latency=latency, units=units, virtualization_mode=virtualization_mode))
    if replace and os.path.exists(state["root"]):
        shutil.rmtree(state["root"])
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    devnodes.build_tree(state)
    driver_files.build_tree(state)
    write_state(path, state)
    return state


def update_host(path, **options):
    """Change options of an existing host (same options as create_host, preset excluded);
    returns the new state."""
    preset = options.pop("preset", None)
    with locked_state(path) as state:
        if preset is not None and preset != state["preset"]:
            raise InputError("preset", preset, "a host's preset cannot change (remove and create it again)",
                             [state["preset"]])
        apply_options(state, options)
        return state


def remove_host(path):
    """Delete the host: its state file and every sidecar named ``<state file>.<suffix>``
    (lock file, file tree, and what host-side tools keep per host, such as gpuops.mig's
    reconfiguration lock and journal), so a host recreated at the same path starts clean.
    Returns whether the host existed."""
    path = os.path.abspath(path)
    existed = os.path.exists(path)
    directory, name = os.path.split(path)
    sidecars = [entry for entry in os.listdir(directory) if entry.startswith(name + ".")] if os.path.isdir(directory) else []
    for entry in sidecars + [name]:
        target = os.path.join(directory, entry)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
    return existed


def _describe_gpu(gpu):
    board = machine.board_of(gpu)
    instances = []
    for gpu_instance in gpu["gpu_instances"]:
        profile = machine.gi_profile_by_id(board, gpu_instance["profile_id"])
        instances.append({
            "gi_id": gpu_instance["gi_id"],
            "profile_id": gpu_instance["profile_id"],
            "profile": profile["name"],
            "placement": {"start": gpu_instance["start"], "size": gpu_instance["size"]},
            "compute_instances": [{
                "ci_id": ci["ci_id"],
                "profile_id": ci["profile_id"],
                "profile": machine.ci_profile_by_id(profile, ci["profile_id"])["name"],
                "placement": {"start": ci["start"], "size": ci["size"]},
                "mig_uuid": ci["mig_uuid"],
            } for ci in gpu_instance["compute_instances"]],
        })
    return {
        "index": gpu["index"], "board": gpu["board"], "name": board["name"], "uuid": gpu["uuid"],
        "pci_bus_id": gpu["pci_bus_id"], "minor": gpu["minor"], "module_id": gpu["module_id"],
        "mig_current": gpu["mig"]["current"], "mig_pending": gpu["mig"]["pending"], "lost": gpu["lost"],
        "resets": gpu["resets"], "gpu_instances": instances,
    }


def describe_host(path):
    """A JSON-friendly summary of the host for module results."""
    with locked_state(path, write=False) as state:
        return _described(path, state)


def _described(path, state):
    fabric = state["fabric"]
    summary = {
        "path": os.path.abspath(path),
        "preset": state["preset"],
        "host_files": host_files_of(state),
        "reset_supported": state["reset_supported"],
        "driver_version": state["driver_version"],
        "gpus": [_describe_gpu(gpu) for gpu in state["gpus"]],
        "processes": state["processes"],
        "units": dict((name, unit["active"]) for name, unit in state["units"].items()),
        "faults": state["faults"],
        "latency": state["latency"],
        "mutating_calls": state["mutating_calls"],
        "fabric": {
            "nvswitch": fabric["nvswitch"],
            "mode": fabric.get("mode"),
            "fm_running": fabric.get("fm_running"),
            "active_partitions": [p["id"] for p in fabric.get("partitions", []) if p["active"]],
        },
    }
    summary.update(paths(path))
    return summary


# -- the simulated_host module's action -----------------------------------------------------

#: Fabric Manager FABRIC_MODE values by the names the simulated_host module accepts.
FABRIC_MODE_NAMES = {"bare_metal": 0, "shared_nvswitch": 1, "vgpu": 2}


def fabric_mode_value(mode):
    """FABRIC_MODE number of ``bare_metal``/``shared_nvswitch``/``vgpu`` or "0"/"1"/"2"."""
    if mode is None:
        return None
    text = str(mode).strip()
    if text in FABRIC_MODE_NAMES:
        return FABRIC_MODE_NAMES[text]
    if text.isdigit() and int(text) in FABRIC_MODE_NAMES.values():
        return int(text)
    raise InputError("fabric_mode", mode, "unknown Fabric Manager mode", sorted(FABRIC_MODE_NAMES) + ["0", "1", "2"])


def _managed_view(state):
    """What ``simulated_host`` manages of a host state, for change detection and diffs."""
    fabric = state["fabric"]
    return {
        "preset": state["preset"],
        "host_files": host_files_of(state),
        "fabric_mode": fabric.get("mode") if fabric["nvswitch"] else None,
        "reset_supported": state["reset_supported"],
        "virtualization_mode": state.get("virtualization_mode"),
        "processes": state["processes"],
        "faults": state["faults"],
        "latency": state["latency"],
        "units": state.get("units") or {},
        "lost_gpus": [gpu["index"] for gpu in state["gpus"] if gpu["lost"]],
    }


def manage_simulated_host(path, state="present", preset=None, check_mode=False, **options):
    """Create, alter or remove the simulated host stored at ``path``.

    ``options`` are those of create_host (None = leave as is; ``fabric_mode`` as a
    FABRIC_MODE number). Every value is validated before anything is written. Returns
    ``{"changed", "path", "diff": {"before", "after"}, "host"}`` where ``host`` is the host's
    description after the change (None when absent or not yet created in check mode).
    """
    path = os.path.abspath(path)
    given = dict((name, value) for name, value in options.items() if value is not None)
    try:
        current = read_state(path) if os.path.exists(path) else None
    except SimulatorStateError as error:
        raise InputError("path", path, "%s; refusing to change or remove it" % error)
    before = _managed_view(current) if current else {}
    if state == "absent":
        if current and not check_mode:
            remove_host(path)
        return {"changed": bool(current), "path": path, "diff": {"before": before, "after": {}}, "host": None}
    if current is None:
        if preset not in PRESETS:
            problem = "is required to create a simulated host" if preset is None else "unknown preset"
            raise InputError("preset", preset, problem, valid=sorted(PRESETS))
        if check_mode:
            # Option values are validated against the host when it is really created.
            return {"changed": True, "path": path, "diff": {"before": {}, "after": dict(given, preset=preset)}, "host": None}
        created = create_host(path, preset, **given)
        return {"changed": True, "path": path, "diff": {"before": {}, "after": _managed_view(created)}, "host": describe_host(path)}
    if preset is not None and preset != current["preset"]:
        raise InputError("preset", preset, "a simulated host's preset cannot change (remove the host first)", [current["preset"]])
    if "fabric_mode" in given and given["fabric_mode"] == before["fabric_mode"]:
        # Setting the mode again would deactivate every partition: only a new mode is a change.
        del given["fabric_mode"]
    # Validate and preview on a copy, so bad input and check mode write nothing.
    preview = copy.deepcopy(current)
    apply_options(preview, given)
    after = _managed_view(preview)
    changed = after != before
    if changed and not check_mode:
        update_host(path, **given)
        return {"changed": True, "path": path, "diff": {"before": before, "after": after}, "host": describe_host(path)}
    return {"changed": changed, "path": path, "diff": {"before": before, "after": after}, "host": _described(path, current)}


def _host_operation(path, operation):
    """Run ``operation(state)`` under the exclusive lock; NVML-like failures become
    SimulatedHostError and leave the state unchanged."""
    with locked_state(path) as state:
        try:
            result = operation(state)
        except machine.NvmlFailure as failure:
            raise SimulatedHostError(str(failure), nvml_error=failure.error)
        devnodes.sync_cap_nodes(state)
        return result


def reset_gpu(path, index):
    """``nvidia-smi --gpu-reset -i index``: applies the pending MIG mode and clears the GPU's
    instances. Fails (IN_USE) while a process or an active GPU client unit holds the GPU,
    and (NOT_SUPPORTED, reboot required) on hosts with reset_supported false."""

    def reset(state):
        _check_index("index", index, state)
        machine.reset_gpu(state, index)
        state["gpus"][index]["resets"] += 1
        return {"index": index, "mig_current": state["gpus"][index]["mig"]["current"]}

    return _host_operation(path, reset)


def reboot_host(path):
    """Reboot the simulated host: processes end, pending MIG modes apply, instances and
    lost-GPU marks are gone; units keep their state (enabled services start again)."""
    return _host_operation(path, machine.reboot)


def set_unit_state(path, unit, active):
    """Start (active=True) or stop a simulated GPU client unit; returns its previous state."""

    def change(state):
        if unit not in state["units"]:
            raise InputError("unit", unit, "no such unit on this host", sorted(state["units"]))
        previous = state["units"][unit]["active"]
        state["units"][unit]["active"] = _check_bool("active", active)
        return previous

    return _host_operation(path, change)


def unit_states(path):
    """{unit name: active} of the host's GPU client units."""
    with locked_state(path, write=False) as state:
        return dict((name, unit["active"]) for name, unit in state["units"].items())
