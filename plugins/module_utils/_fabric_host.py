# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One pass over a host's Fabric Manager (fabric_partition with ``fabric_mode``):
fabricmanager.cfg (only the keys given change), the service restarted when its configuration
changed or started when it is stopped, then every partition of the host's VMs brought to the
wanted state.

A host without NVSwitch / Fabric Manager is reported and left alone. In check mode a
configuration change is predicted, and the partitions are planned against the Fabric
Manager that runs now only when it keeps running as it is (a restart, or the start of a
stopped Fabric Manager, leaves every partition inactive, so they are then predicted as
activations).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ._errors import InputError
from ._fabric import (
    BARE_METAL,
    FABRIC_MODES,
    VGPU,
    active_ids,
    describe_partition,
    find_partition,
    open_from_params,
    parse_fabricmanager_cfg,
    parse_vfs,
    partition_for_gpus,
    partition_plan,
    run_partition_plan,
    after_plan,
)
from ._files import write_atomically

_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*=(.*)$")
MODE_NUMBERS = dict((name, number) for number, name in FABRIC_MODES.items())
PARTITION_KEYS = ("name", "gpus", "partition_id", "vfs")


def _render_value(key, value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        text = str(value).strip()
        if "\n" not in text:
            return text
    raise InputError("settings.%s" % key, value, "must be a one-line string, number or boolean")


def set_config_keys(content, settings):
    """fabricmanager.cfg text ``content`` with the keys of ``settings`` set (None removes a
    key). Lines, comments and keys not named are kept byte for byte, in their order; a
    missing key is appended."""
    for key in settings:
        if not isinstance(key, str) or not _KEY.match(key):
            raise InputError("settings", key, "not a Fabric Manager key (upper-case letters, digits and _)")
    pending = dict(settings)
    lines = []
    for line in (content or "").splitlines():
        match = _ASSIGNMENT.match(line)
        key = match.group(1) if match else None
        if key not in settings:
            lines.append(line)
            continue
        if key not in pending:
            continue  # a duplicate of a key already set: Fabric Manager reads one
        value = pending.pop(key)
        if value is None:
            continue
        rendered = _render_value(key, value)
        lines.append(line if match.group(2).strip() == rendered else "%s=%s" % (key, rendered))
    for key in settings:
        if key in pending and pending[key] is not None:
            lines.append("%s=%s" % (key, _render_value(key, pending[key])))
    return "\n".join(lines) + "\n"


def _partitions(value, mode, state):
    """Validated ``partitions`` entries."""
    if not isinstance(value, list):
        raise InputError("partitions", value, "must be a list of {name, gpus or partition_id, vfs}")
    for position, entry in enumerate(value):
        option = "partitions[%d]" % position
        if not isinstance(entry, dict):
            raise InputError(option, entry, "must be a mapping", valid=PARTITION_KEYS)
        unknown = sorted(set(entry) - set(PARTITION_KEYS))
        if unknown:
            raise InputError("%s.%s" % (option, unknown[0]), entry[unknown[0]], "unknown key", valid=PARTITION_KEYS)
        if bool(entry.get("gpus")) == (entry.get("partition_id") is not None):
            raise InputError(option, entry, "give either gpus or partition_id")
        if state == "activated" and mode == "vgpu" and not entry.get("vfs"):
            raise InputError(option, entry.get("name", position), "in vgpu mode every partition needs vfs (one SR-IOV VF per GPU)")
    if value and state == "activated" and mode == "bare_metal":
        raise InputError("partitions", value, "Fabric Manager in bare_metal mode uses no partitions; use shared_nvswitch or vgpu")
    return value


def fabric_manager_config(host, path=None):
    """(path, text) of fabricmanager.cfg on ``host`` (a ``_host.Host``): ``path`` or the
    host's; text None when the host has no Fabric Manager. A simulated host with NVSwitches
    whose file was not written yet answers with the configuration its simulated Fabric
    Manager runs."""
    path = path or host.path("fabricmanager_cfg")
    try:
        with open(path, "r") as handle:
            return path, handle.read()
    except (IOError, OSError):
        pass
    return path, host.fabric_manager_default_config()


def _configure(session, path, current, mode, settings):
    """Write fabricmanager.cfg, and restart Fabric Manager when its configuration changes or
    start it when it is stopped. -> (actions, whether Fabric Manager (re)starts, so that
    every partition begins inactive)."""
    params = session.params
    host = session.hardware.host
    wanted = set_config_keys(current, dict(settings, FABRIC_MODE=MODE_NUMBERS[mode]))
    try:
        with open(path, "r") as handle:
            written = handle.read()
    except (IOError, OSError):
        written = None
    restart = parse_fabricmanager_cfg(current).mode != MODE_NUMBERS[mode] or (written is not None and written != wanted)
    start = not restart and not host.fabric_manager_running(params["service"])
    actions = []
    if written != wanted:
        actions.append({"action": "write_config", "path": path})
        if not session.check_mode:
            write_atomically(path, wanted, 0o644)
    if restart:
        actions.append({"action": "restart", "service": params["service"], "fabric_mode": mode})
        if not session.check_mode:
            host.restart_fabric_manager(params["service"], MODE_NUMBERS[mode])
    elif start:
        actions.append({"action": "start", "service": params["service"], "fabric_mode": mode})
        if not session.check_mode:
            host.start_fabric_manager(params["service"])
    return actions, restart or start


def converge_fabric(session):
    """fabric_partition with ``fabric_mode``: the host's whole Fabric Manager in one pass."""
    params = session.params
    state = params["state"]
    mode = params["fabric_mode"]
    settings = params.get("settings") or {}
    if state not in ("activated", "deactivated"):
        raise InputError("state", state, "fabric_mode takes state activated or deactivated", valid=["activated", "deactivated"])
    for option in ("partition_id", "gpus", "vfs", "activated_partitions"):
        if params.get(option) not in (None, []):
            raise InputError(option, params[option], "not used with fabric_mode (give the VMs' partitions in partitions)")
    if "FABRIC_MODE" in settings:
        raise InputError("settings", settings["FABRIC_MODE"], "set the mode with fabric_mode, not FABRIC_MODE", valid=sorted(MODE_NUMBERS))
    partitions = _partitions(params.get("partitions") or [], mode, state)
    result = {"changed": False, "actions": [], "fabric_mode": mode}
    path, current = fabric_manager_config(session.hardware.host, params.get("config_path"))
    if current is None:
        result.update(fabric_manager=False, msg="this host has no NVSwitch fabric / Fabric Manager (%s): nothing to configure" % path)
        return result
    actions, restarting = _configure(session, path, current, mode, settings) if state == "activated" else ([], False)
    result.update(fabric_manager=True, actions=actions, changed=bool(actions))
    if restarting and session.check_mode:
        result["actions"] += [
            {"action": "activate", "partition": entry.get("name") or entry.get("gpus") or entry.get("partition_id")} for entry in partitions
        ]
        result["changed"] = True
        return result
    devices = session.hardware.devices()
    fm = open_from_params(params, path)
    try:
        running_mode = fm.mode()
        result["fm_backend"] = fm.backend_name
        if running_mode == BARE_METAL or not partitions:
            result["partitions"] = []
            return result
        current = fm.partitions()
        before = active_ids(current)
        gates = session.feature_gates
        for entry in partitions:
            vfs = parse_vfs(entry["vfs"]) if entry.get("vfs") and running_mode == VGPU and state == "activated" else None
            if entry.get("partition_id") is not None:
                target = find_partition(current, entry["partition_id"])
            else:
                target = partition_for_gpus(current, devices, session.hardware.select(entry["gpus"]))
            planned = partition_plan(
                running_mode, current, target, state, vfs, params.get("exclusive"), devices, gates.get("MigInFabricPartitions", True)
            )
            if planned and not session.check_mode:
                run_partition_plan(fm, planned, vfs)
                current = fm.partitions()
            else:
                current = after_plan(current, planned)
            result["actions"] += planned
        result["changed"] = bool(result["actions"])
        result["partitions"] = [describe_partition(p, devices) for p in current]
        if session.diff:
            result["diff"] = {"before": {"active_partitions": before}, "after": {"active_partitions": active_ids(current)}}
        return result
    finally:
        fm.close()
