# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two changes of MIG state: MIG mode and instances (docs/reconfiguration.md
describes the behaviour users see).

``MigModeChange`` (module mig_mode) and ``InstanceChange`` (module mig_instance) check and
plan everything before the first change, settle an interrupted run first
(``_recovery``), then execute (``_execution``); their ``run(..., lock=held)`` runs under a
host lock the caller already holds (one lock for a whole host pass, ``_converge``). Runs
that only read (gpu_info, cdi_spec) share the lock (``_lock.host_lock(mode=SHARED)``), so
no read sees a change half done.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ._capabilities import capabilities_for
from ._desired import fingerprint, placement_items
from ._errors import HardwareError, InputError, PlacementError, named
from ._execution import (
    Executor,
    GpuWork,
    RunFailed,
    describe_record,
    failed_after,
    first_failure,
    gpu_summary,
    instance_record,
    instance_records,
    mode_view,
    placement_dict,
    run_per_gpu,
    step_action,
    steps_from_plan,
)
from ._journal import Journal
from ._lock import DEFAULT_LOCK_TIMEOUT, held_or_taken
from ._placement import plan as place_plan
from ._recovery import kept_entries, recovery_works, refuse_unreadable, settle_interrupted_run, work_actions


# --------------------------------------------------------------------------- MIG mode

#: Errors of a reset (or of SetMigMode's activation) that mean this host cannot reset the
#: GPU, e.g. a VM with the GPU passed through: the change waits for a reboot.
RESET_UNAVAILABLE = ("NVML_ERROR_RESET_REQUIRED", "NVML_ERROR_NOT_SUPPORTED")


def _require_mig_capable(devices):
    incapable = [device for device in devices if device.mig_current is None]
    if incapable:
        raise InputError(
            "gpus",
            [device.index for device in incapable],
            "these GPUs do not support MIG: %s" % ", ".join("%d (%s)" % (d.index, d.name) for d in incapable),
        )


def _instances_blocking_disable(hardware, devices):
    """{index: instance records} of GPUs in MIG mode that still have instances."""
    blocking = {}
    for device in devices:
        if device.mig_current:
            records = instance_records(hardware, device.index)
            if records:
                blocking[device.index] = records
    return blocking


def _busy(record):
    """Whether processes hold the GPU instance of an instance record (or one of its CIs)."""
    return bool(record["processes"] or any(compute["processes"] for compute in record["compute_instances"]))


def destroy_steps(record):
    """Steps destroying the GPU instance of an instance record, compute instances first."""
    steps = [
        {
            "op": "destroy_ci",
            "gi": record["gi_id"],
            "ci": compute["ci_id"],
            "profile": compute["profile_id"],
            "placement": compute["placement"],
            "label": compute["profile"],
        }
        for compute in record["compute_instances"]
    ]
    steps.append({"op": "destroy_gi", "gi": record["gi_id"], "profile": record["profile_id"], "placement": record["placement"], "label": record["profile"]})
    return steps


class MigModeChange(object):
    """Bring MIG mode of the selected GPUs to ``enabled`` (see ``mig_mode``'s docs).

    Phases: checks (nothing changed yet) -> stop active ``gpu_clients`` -> per GPU in
    parallel: destroy instances (only with ``force``) and request the mode -> reset the GPUs
    whose change is still pending, one after the other (a reset re-initialises NVML, which
    must not happen under another worker's feet) -> start the stopped units again, also
    when something failed.
    """

    def __init__(self, hardware, gpus, enabled, reset="auto", gpu_clients=(), force=False, parallel=None, instances_removed_before=False):
        self.hardware = hardware
        #: the same pass removes every instance of these GPUs before disabling MIG (check
        #: mode then predicts the disable without them)
        self.instances_removed_before = instances_removed_before
        self.indices = [gpu.index for gpu in gpus]
        self.enabled = enabled
        self.reset = reset
        self.gpu_clients = list(gpu_clients or ())
        self.force = force
        self.parallel = parallel
        self._reset_possible = {}

    def run(self, check_mode=False, diff=False, lock_timeout=DEFAULT_LOCK_TIMEOUT, lock=None):
        """Check, then apply (or predict) the change; ``lock`` is the host lock when the
        caller already holds it (what ``host_lock`` yielded), else it is taken here."""
        lock_path, journal_path = self.hardware.host.path("lock"), self.hardware.host.path("journal")
        with held_or_taken(lock, lock_path, lock_timeout, "gpuops.mig.mig_mode"):
            recovery = settle_interrupted_run(self.hardware, journal_path, check_mode, self.parallel, selected=self.indices)
            try:
                before = [self.hardware.device(index) for index in self.indices]
                doomed = self._check(before)
                if check_mode:
                    outcome = self._predict(before, doomed)
                else:
                    outcome = self._apply(before, doomed)
            except Exception as error:  # pylint: disable=broad-except  # re-raised, named
                raise failed_after(error, [] if check_mode else recovery["actions"])
        after = outcome.pop("devices")
        result = {
            # a reset the host refused changed nothing
            "changed": bool(recovery["actions"] or [action for action in outcome["actions"] if not action.get("refused")]),
            "gpus": [
                gpu_summary(device, reset=index in outcome["reset"], reboot_required=index in outcome["reboot"])
                for index, device in zip(self.indices, after)
            ],
            "reboot_required": bool(outcome["reboot"]),
            "pending_gpus": sorted(outcome["reboot"]),
            "actions": recovery["actions"] + outcome["actions"],
            "recovered": recovery["recovered"],
        }
        if recovery["unsettled"]:
            result["unsettled_gpus"] = recovery["unsettled"]
        if diff:
            result["diff"] = {"before": mode_view(before), "after": mode_view(after)}
        return result

    def _check(self, before):
        """Everything that would make the change fail, raised before the first change, in
        check mode too: GPUs without MIG, instances in the way (``force`` destroys them,
        but NVML refuses to destroy one that a process holds), and GPUs that must be reset
        while processes hold them. Returns {index: instance records to destroy}."""
        _require_mig_capable(before)
        doomed = {} if self.enabled or self.instances_removed_before else _instances_blocking_disable(self.hardware, before)
        if doomed and not self.force:
            raise PlacementError(
                "MIG mode cannot be disabled while MIG instances exist: %s; remove them first "
                "(gpuops.mig.mig_instance state=absent) or set force=true to destroy them"
                % "; ".join(
                    "GPU %d: %s" % (index, ", ".join(describe_record(record) for record in records))
                    for index, records in sorted(doomed.items())
                ),
                gpu=min(doomed),
                blocking=[dict(record, gpu=index) for index, records in sorted(doomed.items()) for record in records],
            )
        _refuse_busy_records(
            [dict(record, gpu=index) for index, records in sorted(doomed.items()) for record in records if _busy(record)],
            "MIG mode cannot be disabled",
        )
        if self.reset != "never":
            changing = [device for device in before if device.mig_current != self.enabled and self._attempts_reset(device)]
            held = [(device, self.hardware.processes(device.index)) for device in changing]
            held = [(device, processes) for device, processes in held if processes]
            if held:
                raise PlacementError(
                    "MIG mode of GPU(s) %s changes only with a GPU reset, which fails while processes use the GPU "
                    "(NVML_ERROR_IN_USE): %s; stop them first (or use reset=never and reboot)"
                    % (
                        ", ".join(str(device.index) for device, _processes in held),
                        "; ".join("GPU %d: processes %s" % (d.index, ", ".join(str(p.pid) for p in ps)) for d, ps in held),
                    ),
                    gpu=held[0][0].index,
                    blocking=[{"gpu": device.index, "processes": [p.pid for p in processes]} for device, processes in held],
                )
        return doomed

    def _resettable(self, device):
        """Whether a reset of the GPU can work here (read once per GPU)."""
        if device.index not in self._reset_possible:
            self._reset_possible[device.index] = self.hardware.reset_possible(device.index)
        return self._reset_possible[device.index]

    def _attempts_reset(self, device):
        """``reset``: ``auto`` resets where a reset can work, ``always`` tries it everywhere
        (a refusal then leaves the change to a reboot), ``never`` leaves it to a reboot."""
        return self.reset == "always" or (self.reset == "auto" and self._resettable(device))

    def _needs_request(self, device):
        return device.mig_pending != self.enabled

    def _clients_in_the_way(self, before, requests, doomed):
        """Whether GPU clients must stop: for instances to destroy, for a mode that applies
        at once (Hopper and later), or for resets. Not for an Ampere request that waits
        for a reboot anyway."""
        if doomed or (self.reset != "never" and (requests or any(d.mig_current != self.enabled for d in before))):
            return True
        requested = [d for d in before if d.index in requests]
        return any(not capabilities_for(d.architecture).mig_mode_change_requires_reset for d in requested)

    def _predict(self, before, doomed):
        actions, reset, reboot, after = [], set(), set(), []
        for device in before:
            for record in doomed.get(device.index, ()):
                actions.extend(step_action(device.index, step) for step in destroy_steps(record))
            current = device.mig_current
            if self._needs_request(device):
                actions.append(step_action(device.index, {"op": "set_mig_mode", "enabled": self.enabled}))
                if not capabilities_for(device.architecture).mig_mode_change_requires_reset:
                    current = self.enabled
            if current != self.enabled:
                if self._attempts_reset(device) and self._resettable(device):
                    actions.append({"gpu": device.index, "action": "reset_gpu"})
                    reset.add(device.index)
                    current = self.enabled
                else:
                    if self._attempts_reset(device):
                        actions.append({"gpu": device.index, "action": "reset_gpu", "refused": "NVML_ERROR_NOT_SUPPORTED"})
                    reboot.add(device.index)
            after.append(device._replace(mig_current=current, mig_pending=self.enabled))
        return {"actions": actions, "reset": reset, "reboot": reboot, "devices": after}

    def _apply(self, before, doomed):
        requests = [d.index for d in before if self._needs_request(d) or d.index in doomed]
        stopped = []
        if self.gpu_clients and self._clients_in_the_way(before, requests, doomed):
            stopped = self.hardware.host.active_units(self.gpu_clients)
            self.hardware.host.stop_units(stopped)
        actions = [{"action": "stop_unit", "unit": unit} for unit in stopped]
        reset, reboot = set(), set()
        failure = None
        try:
            done = []  # appended to by the workers; list.append is atomic
            statuses, errors = run_per_gpu(lambda index: self._request(index, doomed.get(index, ()), done), requests, self.parallel)
            actions.extend(sorted(done, key=lambda action: action["gpu"]))
            reboot.update(index for index, status in statuses.items() if status in RESET_UNAVAILABLE)
            failure = first_failure(errors)
            if failure is None:
                for index in self.indices:
                    if self.hardware.device(index).mig_current == self.enabled or index in reboot:
                        continue
                    if not self._attempts_reset(self.hardware.device(index)):
                        reboot.add(index)
                        continue
                    try:
                        self.hardware.reset_gpu(index)
                    except HardwareError as error:
                        if error.error not in RESET_UNAVAILABLE:
                            raise
                        reboot.add(index)
                        actions.append({"gpu": index, "action": "reset_gpu", "refused": error.error})
                    else:
                        reset.add(index)
                        actions.append({"gpu": index, "action": "reset_gpu"})
        except Exception as error:  # pylint: disable=broad-except  # reported below, named
            failure = named(error)
        finally:
            if stopped:
                self.hardware.host.start_units(stopped)
                actions.extend({"action": "start_unit", "unit": unit} for unit in stopped)
        if failure is not None:
            raise RunFailed(str(failure), failure, {"changed": bool(actions), "actions": actions, "gpus": self._readable_summaries()})
        after = [self.hardware.device(index) for index in self.indices]
        return {"actions": actions, "reset": reset, "reboot": reboot, "devices": after}

    def _readable_summaries(self):
        """GPU summaries after a failure; a GPU that cannot be read (fell off the bus) is
        reported with the error instead of hiding the failure that matters."""
        summaries = []
        for index in self.indices:
            try:
                summaries.append(gpu_summary(self.hardware.device(index)))
            except HardwareError as error:
                summaries.append({"index": index, "error": str(error)})
        return summaries

    def _request(self, index, doomed_records, actions):
        """One GPU's worker: destroy its instances (force), then request the mode.
        Returns SetMigMode's activation status (None: applied or nothing requested)."""
        runner = Executor(self.hardware)
        for record in doomed_records:
            for step in destroy_steps(record):
                actions.append(step_action(index, step, runner.run_step(index, step, {})))
        if self.hardware.device(index).mig_pending == self.enabled:
            return None
        status = self.hardware.set_mig_mode(index, self.enabled)
        action = step_action(index, {"op": "set_mig_mode", "enabled": self.enabled})
        if status:
            action["activation_status"] = status
        actions.append(action)
        return status


# --------------------------------------------------------------------------- instances


def fabric_partition_members(hardware, devices):
    """{GPU index: partition id} for those of ``devices`` (the GPUs of the run; others are
    not read) that belong to an active multi-GPU NVSwitch partition (empty where the host
    has no Fabric Manager)."""
    from ._fabric import fabric_inventory

    fabric = fabric_inventory(devices, simulator=hardware.simulator)
    members = {}
    for partition in fabric.get("partitions", ()):
        if partition["active"] and len(partition["gpus"]) > 1:
            members.update((gpu["index"], partition["id"]) for gpu in partition["gpus"] if gpu["index"] is not None)
    return members


def layout_view(records):
    """A GPU's layout as short strings for diffs: ``3g.40gb@0:4``, with the compute
    instances in brackets unless the GPU instance has just its default one."""
    view = []
    for record in sorted(records, key=lambda record: record["placement"]):
        text = "%s@%d:%d" % (record["profile"], record["placement"][0], record["placement"][1])
        computes = [compute["profile"] for compute in record["compute_instances"]]
        if computes != [record["profile"]]:
            text += " [%s]" % ", ".join(sorted(computes))
        view.append(text)
    return view


def predicted_records(before, work):
    """The records the pending steps of ``work`` would leave next to ``before`` (check
    mode); ids the driver would assign are None."""
    records = [dict(record, compute_instances=list(record["compute_instances"])) for record in before]
    created = {}
    for number, step in enumerate(work.steps):
        op = step["op"]
        if number in work.done:
            if op == "create_gi":
                created[number] = next((record for record in records if record["gi_id"] == work.done[number]["gi"]), None)
            continue
        if op == "destroy_gi":
            records = [record for record in records if record["gi_id"] != step["gi"]]
        elif op == "destroy_ci":
            for record in records:
                if record["gi_id"] == step["gi"]:
                    record["compute_instances"] = [c for c in record["compute_instances"] if c["ci_id"] != step["ci"]]
        elif op == "create_gi":
            created[number] = {
                "gi_id": None,
                "profile_id": step["profile"],
                "profile": step["label"],
                "placement": list(step["placement"]),
                "compute_instances": [],
                "processes": [],
            }
            records.append(created[number])
        elif op == "create_ci":
            owner = created.get(step.get("gi_step"))
            if owner is None:
                owner = next(record for record in records if record["gi_id"] == step["gi"])
            owner["compute_instances"].append(
                {"ci_id": None, "profile_id": step["profile"], "profile": step["label"], "placement": None, "mig_uuid": None, "processes": []}
            )
    return sorted(records, key=lambda record: record["placement"])


class InstanceChange(object):
    """Bring the GPU and compute instances of GPUs to their desired state (mig_instance).

    ``desired``: {index: _desired.DesiredGpu}, or a function returning it that ``run``
    calls once it holds the host lock (the desired state reads live profiles and
    instances, which must not be read while another run changes them). Everything is
    planned (and every refusal raised) before the first change; then the Executor runs
    the per-GPU steps.
    """

    def __init__(
        self,
        hardware,
        desired,
        strategy="best-fit",
        disruption="minimal",
        force=False,
        parallel=None,
        auto_enable_mig=False,
        mig_in_fabric_partitions=True,
        fabric_members=None,
        enabled_before=(),
    ):
        self.hardware = hardware
        self.desired = desired
        self.strategy = strategy
        self.disruption = disruption
        self.force = force
        self.parallel = parallel
        self.auto_enable_mig = auto_enable_mig
        self.mig_in_fabric_partitions = mig_in_fabric_partitions
        self._fabric_members = fabric_members
        #: GPUs whose MIG mode the same pass enables before this change runs (so check mode
        #: plans them as enabled and empty)
        self.enabled_before = frozenset(enabled_before)
        #: GPUs whose wanted MIG mode (disabled, from a mig-parted config) is left to mig_mode
        self.mig_mode_required = []

    def run(self, check_mode=False, diff=False, lock_timeout=DEFAULT_LOCK_TIMEOUT, lock=None):
        """Plan and apply (or predict) the change; ``lock`` is the host lock when the caller
        already holds it (what ``host_lock`` yielded), else it is taken here. Every read
        that plans happens under it: a ``desired`` given as a function is called then.

        A journal found first is settled (``recovery_works``): GPUs wanted as it records
        complete its plan; the others go back to their layout from before it, and those
        this run wants differently are planned again once they are back (check mode
        predicts their change from their present state).
        """
        lock_path, journal_path = self.hardware.host.path("lock"), self.hardware.host.path("journal")
        with held_or_taken(lock, lock_path, lock_timeout, "gpuops.mig.mig_instance"):
            if callable(self.desired):
                self.desired = self.desired()
            journal = Journal.find(journal_path)
            fingerprints = dict((index, fingerprint(desired)) for index, desired in self.desired.items())
            settling, kept = recovery_works(self.hardware, journal, fingerprints) if journal else ({}, {})
            refuse_unreadable(kept, self.desired, journal_path)
            completing = set(index for index, work in settling.items() if work.desired is not None)
            replanned = set(self.desired) & (set(settling) - completing)
            fresh = set(self.desired) - set(settling)
            # Every GPU is checked and planned before the first change; those the journal
            # rolls back are planned again once they are back (check mode: from now).
            self._check_mig_mode(fresh | replanned)
            planned = self._plan_all(fresh | replanned, fingerprints)
            before = self._per_gpu(lambda index: instance_records(self.hardware, index), set(settling))
            before.update((index, work.before) for index, work in planned.items() if index not in before)
            if check_mode:
                phases = [(dict((i, w) for i, w in settling.items() if i not in replanned), None), (planned, None)]
            else:
                phases = self._execute(journal_path, journal, settling, planned, replanned, fingerprints, kept_entries(kept))
            result = self._result(phases, before, journal is not None, diff)
        if kept:
            result["unsettled_gpus"] = sorted(kept)
        return result

    def _plan_all(self, indices, fingerprints):
        planned = self._per_gpu(lambda index: self._plan(index, fingerprints[index]), indices)
        self._check_fabric(planned.values())
        _refuse_busy(planned.values())
        return planned

    def _execute(self, journal_path, journal, settling, planned, replanned, fingerprints, kept):
        """Settle the journal, then plan the GPUs it rolled back again and run every plan.
        A failure after the settling changed something says so (``changed``)."""
        executor = Executor(self.hardware, self.parallel)
        settled = executor.execute(journal_path, settling, journal, kept) if journal else {}
        settle_actions = work_actions(settling, settled)
        try:
            if replanned:
                self._check_mig_mode(replanned)
                planned.update(self._plan_all(replanned, fingerprints))
            done = Executor(self.hardware, self.parallel).execute(journal_path, planned, None, kept)
        except Exception as error:  # pylint: disable=broad-except  # re-raised, named
            raise failed_after(error, settle_actions)
        return [(settling, settled), (planned, done)]

    def _per_gpu(self, work, indices):
        """{index: work(index)} with the run's workers where NVML calls wait (reading a GPU
        takes many of them), else one GPU after the other; the first GPU's error is raised."""
        results, errors = run_per_gpu(work, sorted(indices), self.parallel if self.hardware.host.nvml_calls_wait else 1)
        failure = first_failure(errors)
        if failure is not None:
            raise failure
        return results

    # -- planning ------------------------------------------------------------------------

    def _check_mig_mode(self, indices):
        """Refuse (before any change) GPUs whose MIG mode this run cannot bring about."""
        problems = []
        for index in sorted(indices):
            wanted = self.desired[index]
            device = self.hardware.device(index)
            if index in self.enabled_before:
                continue
            if device.mig_current is None:
                if wanted.mig_enabled:
                    problems.append("GPU %d (%s) does not support MIG" % (index, device.name))
            elif wanted.mig_enabled and (wanted.wanted or wanted.mig_required) and not device.mig_current:
                capabilities = capabilities_for(device.architecture)
                if device.mig_pending:
                    problems.append("GPU %d: MIG mode is enabled but pending until the GPU is reset" % index)
                elif capabilities.mig_mode_change_requires_reset:
                    problems.append("GPU %d: MIG mode is disabled and enabling it on %s needs a GPU reset" % (index, capabilities.name))
                elif not self.auto_enable_mig:
                    problems.append("GPU %d: MIG mode is disabled (the AutoEnableMig feature gate would enable it here)" % index)
        if problems:
            raise InputError(
                "gpus",
                sorted(self.desired),
                "MIG mode does not allow the wanted instances: %s; enable MIG with gpuops.mig.mig_mode first" % "; ".join(problems),
            )

    def _plan(self, index, desired_fingerprint):
        """GpuWork of one GPU planned from its live state (``before``: its records now)."""
        wanted = self.desired[index]
        device = self.hardware.device(index)
        if device.mig_current is None:
            return GpuWork(index, [], {}, desired_fingerprint, [])
        capabilities = capabilities_for(device.architecture)
        profiles = self.hardware.gpu_instance_profiles(index)
        current = self.hardware.gpu_instances(index)
        by_id = dict((profile.profile_id, profile) for profile in profiles)
        before = [instance_record(instance, by_id.get(instance.profile_id)) for instance in current]
        enable = bool(wanted.mig_enabled and (wanted.wanted or wanted.mig_required) and not device.mig_current and index not in self.enabled_before)
        disable = False
        if not wanted.mig_enabled and device.mig_pending:
            if self.auto_enable_mig and not capabilities.mig_mode_change_requires_reset:
                disable = True
            else:
                self.mig_mode_required.append(index)
        items, deferred = placement_items(wanted.wanted, profiles)
        try:
            plan = place_plan(profiles, current, items, self.force, self.strategy, self.disruption)
        except PlacementError as error:
            raise PlacementError("GPU %d: %s" % (index, error), gpu=index, blocking=error.blocking)
        steps = steps_from_plan(plan, profiles, deferred, enable=enable, disable=disable)
        return GpuWork(index, steps, {}, desired_fingerprint, before)

    def _check_fabric(self, works):
        """MIG instances on GPUs of an active multi-GPU fabric partition only where the
        architecture allows it and the MigInFabricPartitions gate is on."""
        creating = [work.index for work in works if any(step["op"] == "create_gi" for step in work.steps)]
        if not creating:
            return
        if self._fabric_members:
            members = self._fabric_members()
        else:
            members = fabric_partition_members(self.hardware, [self.hardware.device(index) for index in sorted(self.desired)])
        refused = []
        for index in creating:
            if index not in members:
                continue
            capabilities = capabilities_for(self.hardware.device(index).architecture)
            if not capabilities.mig_allowed_in_multi_gpu_partitions:
                refused.append("GPU %d (partition %s; %s does not allow MIG in multi-GPU partitions)" % (index, members[index], capabilities.name))
            elif not self.mig_in_fabric_partitions:
                refused.append("GPU %d (partition %s; feature gate MigInFabricPartitions is off)" % (index, members[index]))
        if refused:
            raise PlacementError(
                "MIG instances are not allowed on GPUs of an active NVSwitch fabric partition: %s" % ", ".join(refused),
                gpu=creating[0],
            )

    # -- result --------------------------------------------------------------------------

    def _result(self, phases, before, recovered, diff):
        """The module result of the run's ``phases`` ([(works, done)]: settling the
        journal, then the plans; done None in check mode)."""
        indices = sorted(set(self.desired).union(*[set(works) for works, _done in phases]))
        actions = [action for works, done in phases for action in work_actions(works, done)]
        predicted = phases[-1][1] is None

        def report(index):
            pending = [works[index] for works, _done in phases if index in works and len(works[index].done) < len(works[index].steps)]
            if not pending:
                after = before[index]
            elif predicted:
                after = predicted_records(before[index], pending[-1])
            else:
                after = instance_records(self.hardware, index)
            device = self.hardware.device(index)
            migs = mig_device_list(self.hardware, device, before[index] if predicted else after)
            return gpu_summary(device, instances=after, changed=bool(pending)), migs, after

        reports = self._per_gpu(report, indices)
        gpus = [reports[index][0] for index in indices]
        mig_devices = [mig for index in indices for mig in reports[index][1]]
        after = dict((index, reports[index][2]) for index in indices)
        result = {
            "changed": bool(actions),
            "recovered": recovered,
            "actions": actions,
            "gpus": gpus,
            "mig_devices": mig_devices,
        }
        if self.mig_mode_required:
            self.mig_mode_required.sort()
            result["mig_mode_required"] = self.mig_mode_required
            result["msg"] = (
                "MIG mode stays enabled on GPU(s) %s although the config disables it: their instances are "
                "removed; disable MIG with gpuops.mig.mig_mode (or the AutoEnableMig gate where no reset is needed)"
                % ", ".join(str(index) for index in self.mig_mode_required)
            )
        if diff:
            result["diff"] = {
                "before": dict(("gpu%d" % index, layout_view(before[index])) for index in indices),
                "after": dict(("gpu%d" % index, layout_view(after[index])) for index in indices),
            }
        return result


def _refuse_busy(works):
    """A plan that destroys an instance a process holds fails at that step, ``force`` or
    not (NVML answers IN_USE): refuse it before the first change, in check mode too."""
    busy = []
    for work in works:
        records = dict((record["gi_id"], record) for record in work.before)
        for step in work.steps:
            record = records.get(step.get("gi")) if step["op"] in ("destroy_gi", "destroy_ci") else None
            if record is None or any(entry["gpu"] == work.index and entry["gi_id"] == record["gi_id"] for entry in busy):
                continue
            held = _busy(record) if step["op"] == "destroy_gi" else any(
                compute["processes"] for compute in record["compute_instances"] if compute["ci_id"] == step["ci"]
            )
            if held:
                busy.append(dict(record, gpu=work.index))
    _refuse_busy_records(busy, "the plan cannot be applied", "or choose a layout that keeps these instances")


def _refuse_busy_records(busy, what, alternative=""):
    """PlacementError for instance records (with ``gpu``) that processes hold and a change
    would have to destroy: NVML refuses that (IN_USE), ``force`` or not."""
    if busy:
        raise PlacementError(
            "%s: it destroys instances that processes hold, and NVML refuses to destroy them even with force "
            "(NVML_ERROR_IN_USE): %s; stop those processes first%s"
            % (what, "; ".join("GPU %d: %s" % (entry["gpu"], describe_record(entry)) for entry in busy), alternative and ", " + alternative),
            gpu=busy[0]["gpu"],
            blocking=busy,
        )


def mig_device_list(hardware, device, records):
    """Every MIG device of a GPU as results report it, with its GPU instance's placement."""
    placements = dict((record["gi_id"], record["placement"]) for record in records)
    return [
        {
            "gpu": device.index,
            "gpu_uuid": device.uuid,
            "mig_index": mig.mig_index,
            "gi_id": mig.gi_id,
            "ci_id": mig.ci_id,
            "profile": mig.profile_name,
            "placement": placement_dict(placements[mig.gi_id]) if mig.gi_id in placements else None,
            "uuid": mig.uuid,
            "memory_mb": mig.memory_mb,
        }
        for mig in hardware.mig_devices(device.index)
    ]
