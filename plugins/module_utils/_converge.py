# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One pass per host: what the mig_instance and mig_mode modules run.

``converge`` brings a host's MIG state to what one mig_instance call describes, under one
hold of the host lock:

1. MIG mode on for the GPUs that get instances and do not have it (``MigModeChange``:
   resets where the architecture needs them and the reset policy allows);
2. the GPU and compute instances (``InstanceChange``: journaled, rolled back on failure);
3. MIG mode off for the GPUs that want it off (``state: disabled``, mig-parted
   ``mig-enabled: false``), once their instances are gone;
4. the CDI spec rewritten when it no longer lists exactly the devices that exist.

The pass is first run in check mode (nothing changes; the same code plans it). A check-mode
task returns that prediction. Otherwise, when the prediction holds any change, the GPU
client units that run are stopped, the pass runs for real, and the stopped units are
started again whatever happened; a pass that changes nothing stops nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ._capabilities import capabilities_for
from ._desired import desired_state
from ._errors import InputError, MigError
from ._lock import host_lock
from ._execution import RunFailed
from ._reconcile import InstanceChange, MigModeChange, fabric_partition_members

#: A systemd unit name: systemd's characters, and no leading "-" that systemctl would take
#: for an option.
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,254}$")

RESET_POLICIES = ("auto", "always", "never")

#: Argument spec of the options every module that changes MIG state takes (documented by
#: the ``gpuops.mig.mig_change`` doc fragment).
CHANGE_OPTIONS = dict(
    reset=dict(type="str", default="auto", choices=list(RESET_POLICIES)),
    gpu_clients=dict(type="list", elements="str", default=[]),
    cdi_spec=dict(
        type="dict",
        options=dict(
            path=dict(type="path"),
            kind=dict(type="str", default="nvidia.com/gpu"),
            device_name_strategies=dict(type="list", elements="str", default=["index", "uuid"]),
            mode=dict(type="raw", default="0644"),
            driver_root=dict(type="path"),
            hooks=dict(type="str", choices=["auto", "none"], default="auto"),
            hook_path=dict(type="path"),
        ),
    ),
)


def parallel_workers(session):
    """Worker count: ``parallel`` (default every selected GPU), 1 without ParallelReconfigure."""
    parallel = session.params.get("parallel")
    if parallel is not None and parallel < 1:
        raise InputError("parallel", parallel, "must be at least 1 (or unset for every selected GPU)")
    return parallel if session.feature_gates["ParallelReconfigure"] else 1


def lock_timeout(params):
    timeout = params.get("lock_timeout")
    if timeout is None or timeout < 0:
        raise InputError("lock_timeout", timeout, "must be a number of seconds >= 0")
    return timeout


def gpu_clients(params):
    units = params.get("gpu_clients") or []
    for unit in units:
        if not _UNIT_NAME.match(unit):
            raise InputError(
                "gpu_clients",
                unit,
                "not a systemd unit name (letters, digits and :_.\\@-, not starting with '-'), "
                "such as nvidia-dcgm or nvidia-k8s-device-plugin.service",
            )
    return units


def placement_strategy(params, gates):
    """The placement strategy: ``fabric-aware`` needs the FabricAwarePlacement gate, which
    also makes it the default."""
    strategy = params.get("placement_strategy")
    if strategy is None:
        return "fabric-aware" if gates["FabricAwarePlacement"] else "best-fit"
    if strategy == "fabric-aware" and not gates["FabricAwarePlacement"]:
        raise InputError("placement_strategy", strategy, "needs the FabricAwarePlacement feature gate", valid=["best-fit", "balanced"])
    return strategy


def reset_policy(policy):
    """The ``reset`` option, checked: ``auto`` resets where a reset can work (not from inside a
    passthrough or vGPU guest, as the GPUs report; ``Hardware.reset_possible``), ``always``
    tries it anyway, ``never`` leaves every pending change to a reboot."""
    if policy not in RESET_POLICIES:
        raise InputError("reset", policy, "unknown reset policy", valid=RESET_POLICIES)
    return policy


def cdi_options(value, host):
    """Validated options of the ``cdi_spec`` sub-option (None: leave the spec alone); the path
    defaults to the host's CDI spec file."""
    if value is None:
        return None
    from ._cdi import spec_options

    params = dict(value)
    params.setdefault("path", None)
    if not params["path"]:
        params["path"] = host.path("cdi_spec")
    try:
        return spec_options(params)
    except InputError as error:
        raise InputError("cdi_spec.%s" % error.option, error.value, error.problem, error.valid)


def refresh_cdi_spec(options, hardware, check_mode, changes_predicted):
    """Make the CDI spec list exactly the devices that exist now. In check mode a pass that
    would change MIG devices is predicted to change the spec too."""
    from ._cdi import manage_spec

    result = manage_spec(options, hardware, hardware.healthy_devices(), check_mode=check_mode)
    if check_mode and changes_predicted:
        result["changed"] = True
    return result


class _Pass(object):
    """The three changes of one mig_instance pass over the selected GPUs."""

    def __init__(self, session, desired):
        params = session.params
        gates = session.feature_gates
        self.hardware = session.hardware
        self.session = session
        self.desired = desired
        self.apply_mode = bool(params.get("apply_mig_mode") or params.get("state") == "disabled")
        self.reset = reset_policy(params.get("reset") or "auto")
        self.parallel = parallel_workers(session)
        self.timeout = lock_timeout(params)
        self.instance_options = dict(
            strategy=placement_strategy(params, gates),
            disruption=params.get("disruption") or "minimal",
            force=params.get("force") or False,
            parallel=self.parallel,
            auto_enable_mig=gates["AutoEnableMig"],
            mig_in_fabric_partitions=gates["MigInFabricPartitions"],
        )

    def run(self, check_mode, diff, fabric_members, lock):
        devices = dict((index, self.hardware.device(index)) for index in self.desired)
        enable, disable = [], []
        if self.apply_mode:
            for index, wanted in sorted(self.desired.items()):
                device = devices[index]
                if device.mig_current is None:
                    continue
                # MIG on where instances are wanted (or a mig-parted all-enabled asks for it),
                # not for state=absent, which leaves MIG mode as it is
                if wanted.mig_enabled and (wanted.wanted or wanted.mig_required) and not (device.mig_current and device.mig_pending):
                    enable.append(device)
                elif not wanted.mig_enabled and (device.mig_current or device.mig_pending):
                    disable.append(device)
        results = []
        pending = set()
        if enable:
            outcome = MigModeChange(self.hardware, enable, True, reset=self.reset, parallel=self.parallel).run(check_mode, diff, self.timeout, lock)
            pending.update(outcome["pending_gpus"])
            results.append(outcome)
        instances = dict(
            (index, wanted._replace(mig_enabled=True) if self.apply_mode else wanted)
            for index, wanted in self.desired.items()
            if index not in pending and (wanted.mig_enabled or devices[index].mig_current)
        )
        if instances:
            change = InstanceChange(
                self.hardware,
                instances,
                fabric_members=fabric_members,
                enabled_before=[device.index for device in enable],
                **self.instance_options
            )
            results.append(change.run(check_mode, diff, self.timeout, lock))
        if disable:
            outcome = MigModeChange(
                self.hardware, disable, False, reset=self.reset, parallel=self.parallel, instances_removed_before=True
            ).run(check_mode, diff, self.timeout, lock)
            pending.update(outcome["pending_gpus"])
            results.append(outcome)
        return _merge(results, pending)


def _merge(results, pending):
    """One module result from the results of a pass's changes."""
    merged = {
        "changed": any(result["changed"] for result in results),
        "recovered": any(result.get("recovered") for result in results),
        "actions": [action for result in results for action in result["actions"]],
        "reboot_required": bool(pending),
        "pending_gpus": sorted(pending),
        "gpus": [],
        "mig_devices": [],
    }
    for result in results:
        if "mig_devices" in result:
            merged["gpus"] = result["gpus"]
            merged["mig_devices"] = result["mig_devices"]
        for key, value in result.items():
            if key not in merged and key != "diff":  # what one change alone reports (unsettled_gpus, msg, ...)
                merged[key] = value
    if not merged["gpus"] and results:
        merged["gpus"] = results[-1]["gpus"]
    diffs = [result["diff"] for result in results if "diff" in result]
    if diffs:
        merged["diff"] = dict((side, _diff_side(diffs, side)) for side in ("before", "after"))
    if pending:
        merged["msg"] = (
            "GPU(s) %s have MIG mode pending until the host reboots (this host cannot reset them, or reset=never): "
            "their instances are created on the next run after the reboot" % ", ".join(str(index) for index in sorted(pending))
        )
    return merged


def _diff_side(diffs, side):
    """One side of the pass's diff: per GPU its instances (as mig_instance always showed
    them) and, under ``mig_mode``, the MIG mode of the GPUs whose mode the pass changes.
    ``before`` is what the first change saw, ``after`` what the last one left."""
    view = {}
    for diff in reversed(diffs) if side == "before" else diffs:
        for gpu, value in diff[side].items():
            if isinstance(value, dict):
                view.setdefault("mig_mode", {})[gpu] = value
            else:
                view[gpu] = value
    return view


def _renamed(error, names):
    """``error`` naming the caller's variables instead of the options (the roles pass their
    inventory variable names in ``option_names``): in the option it is about, and where its
    message or valid values name other options."""
    if error.__class__ is not InputError or not names:  # subclasses (mig-parted files) word their own messages
        return error
    head = re.split(r"[.\[]", error.option, maxsplit=1)[0]
    if error.option in names:
        option = names[error.option]
    elif head in names:
        option = names[head] + error.option[len(head):]
    else:
        option = error.option
    # an option named in a message: in a list, before "=" or "(...)", not a word of prose
    words = re.compile(
        r"\b(%s)(?=[,)=]| \(|$)" % "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True) if "." not in name)
    )

    def rename(text):
        return words.sub(lambda match: names[match.group(1)], str(text))

    valid = [rename(choice) for choice in error.valid] if error.valid is not None else None
    return InputError(option, error.value, rename(error.problem), valid)


def _check_multi_gpu_partitions(session, desired):
    """MIG instances on a host that serves multi-GPU NVSwitch partitions (passthrough and
    sriov roles) only on architectures whose Fabric Manager allows it."""
    if not session.params.get("multi_gpu_partitions"):
        return
    refused = sorted(
        set(
            capabilities_for(device.architecture).name
            for device in session.gpus
            if device.index in desired
            and desired[device.index].mig_enabled
            and desired[device.index].wanted
            and not capabilities_for(device.architecture).mig_allowed_in_multi_gpu_partitions
        )
    )
    if refused:
        raise InputError(
            "multi_gpu_partitions",
            True,
            "MIG is refused on %s GPUs of a host with multi-GPU NVSwitch partitions (Fabric Manager does not activate "
            "a partition with a MIG-enabled GPU of that architecture): disable MIG on this host, or give its VMs one GPU each"
            % ", ".join(refused),
        )


def converge(session):
    """What the mig_instance module does (``_module.run_module`` action)."""
    try:
        return _converge(session)
    except MigError as error:
        raise _renamed(error, session.params.get("option_names"))


#: Virtualization modes the GPUs of a host may not report in each deployment mode (the
#: inventory group the host is in): a vGPU hypervisor is an sriov host, and an sriov host
#: runs the vGPU manager.
DEPLOYMENT_MODE_CONTRADICTIONS = {
    "bare_metal": ("vgpu_host", "vsga_host"),
    "passthrough": ("vgpu_host", "vsga_host", "vgpu_guest"),
    "sriov": ("none", "passthrough", "vgpu_guest"),
}


def _check_deployment_mode(session):
    """Refuse a host whose GPUs contradict the deployment mode it is managed in."""
    mode = session.params.get("deployment_mode")
    if not mode:
        return
    reported = dict((device.index, session.hardware.virtualization_mode(device.index)) for device in session.gpus)
    contradicting = sorted(index for index, reported_mode in reported.items() if reported_mode in DEPLOYMENT_MODE_CONTRADICTIONS[mode])
    if contradicting:
        raise InputError(
            "deployment_mode",
            mode,
            "GPU(s) %s of this host report virtualization mode %s, which a %s host does not have; put the host in the "
            "group of its deployment mode" % (", ".join(str(i) for i in contradicting), reported[contradicting[0]], mode),
            valid=sorted(m for m, refused in DEPLOYMENT_MODE_CONTRADICTIONS.items() if reported[contradicting[0]] not in refused),
        )


def require_root(host, check_mode):
    """Changes on a real host (its GPUs, systemd units and files) need root: say so before
    anything is tried. Check mode only reads; a simulated host whose files are its own needs
    no root either."""
    if not check_mode and not host.simulated_files and os.geteuid() != 0:
        raise MigError(
            "changing MIG state needs root on the managed host (running as uid %d): set become: true on the play "
            "or connect as root" % os.geteuid()
        )


def _converge(session):
    params = session.params
    hardware = session.hardware
    require_root(hardware.host, session.check_mode)
    _check_deployment_mode(session)
    clients = gpu_clients(params)
    cdi = cdi_options(params.get("cdi_spec"), hardware.host)
    members = {}

    def fabric_members():
        if "gpus" not in members:
            members["gpus"] = fabric_partition_members(hardware, session.gpus)
        return members["gpus"]

    timeout = lock_timeout(params)
    with host_lock(hardware.host.path("lock"), timeout, "gpuops.mig.mig_instance") as lock:
        # Each of the three steps reads the GPUs once (kept_reads); the GPU clients stop
        # between the plan and the change, so the change reads afresh.
        with hardware.kept_reads():
            desired = desired_state(params, hardware, session.gpus, lambda index: index in fabric_members())
            _check_multi_gpu_partitions(session, desired)
            change = _Pass(session, desired)
            result = change.run(True, session.diff, fabric_members, lock)
        if not session.check_mode and (result["changed"] or result["recovered"]):
            result = _run_with_clients_stopped(hardware.host, clients, lambda: _kept(hardware, change.run, False, session.diff, fabric_members, lock))
        if cdi is not None:
            result["cdi_spec"] = _kept(hardware, refresh_cdi_spec, cdi, hardware, session.check_mode, result["changed"])
            result["changed"] = result["changed"] or result["cdi_spec"]["changed"]
    if getattr(desired, "warnings", None):  # what a mig-parted config names that this host lacks
        result["warnings"] = list(desired.warnings)
    return result


def _kept(hardware, work, *args):
    """``work(*args)`` reading each GPU once (Hardware.kept_reads)."""
    with hardware.kept_reads():
        return work(*args)


def _run_with_clients_stopped(host, clients, work):
    """``work()`` with the running ``clients`` stopped; they are started again afterwards,
    also when the work fails, and the result (or the failure's) lists both steps."""
    stopped = host.active_units(clients)
    host.stop_units(stopped)
    steps = [{"action": "stop_unit", "unit": unit} for unit in stopped]
    try:
        result = work()
    except RunFailed as failure:
        host.start_units(stopped)
        failure.result["actions"] = steps + failure.result.get("actions", []) + [{"action": "start_unit", "unit": unit} for unit in stopped]
        failure.result["changed"] = True
        raise
    except BaseException:
        host.start_units(stopped)
        raise
    host.start_units(stopped)
    result["actions"] = steps + result["actions"] + [{"action": "start_unit", "unit": unit} for unit in stopped]
    result["gpu_clients_restarted"] = stopped
    return result


def mig_mode(session):
    """What the mig_mode module does (``_module.run_module`` action)."""
    params = session.params
    require_root(session.hardware.host, session.check_mode)
    cdi = cdi_options(params.get("cdi_spec"), session.hardware.host)
    change = MigModeChange(
        session.hardware,
        session.gpus,
        params["state"] == "enabled",
        reset=reset_policy(params["reset"]),
        gpu_clients=gpu_clients(params),
        force=params["force"],
        parallel=parallel_workers(session),
    )
    timeout = lock_timeout(params)
    with host_lock(session.hardware.host.path("lock"), timeout, "gpuops.mig.mig_mode") as lock:
        result = change.run(session.check_mode, session.diff, timeout, lock)
        if cdi is not None:
            result["cdi_spec"] = refresh_cdi_spec(cdi, session.hardware, session.check_mode, result["changed"])
            result["changed"] = result["changed"] or result["cdi_spec"]["changed"]
    return result
