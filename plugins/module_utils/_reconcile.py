# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan execution: host lock, journal, ordered steps, rollback, one worker per GPU.

Everything that changes MIG state on a host goes through here (docs/reconfiguration.md
describes the behaviour users see):

* ``host_lock`` serialises runs on one host (an fcntl lock, so a holder that dies releases
  it; the holder writes its pid and module into the file so a waiter can name it).
* ``Journal`` is written atomically before the first change and after every completed
  step, and removed when the run ends. A journal found by the next run means the previous
  one was interrupted: ``recovery_works`` completes or rolls back its plan.
* ``Executor`` runs per-GPU step lists (``GpuWork``) through ``_nvml.Hardware``, GPUs in
  parallel; when a step fails every GPU of the run is rolled back (``inverse_steps``: undo
  completed steps, newest first) and ``RunFailed`` reports the rollback and what exists.
* ``MigModeChange`` (module mig_mode) and ``InstanceChange`` (module mig_instance) check and
  plan everything before the first change, then execute; ``mig_mode(session)`` and
  ``mig_instance(session)`` are what the modules run. Their ``run(..., lock=held)`` runs
  under a host lock the caller already holds (one lock for a whole host pass).
* Runs that only read (gpu_info, cdi_spec) share the lock (``host_lock(mode=SHARED)``,
  declared with ``_module.run_module(lock=SHARED)``), so no read sees a change half done.

Steps are plain dicts (they go into the journal as JSON):

* ``{"op": "destroy_ci", "gi": 7, "ci": 0, "profile": 0, "placement": [0, 1]}`` and
  ``{"op": "destroy_gi", "gi": 7, "profile": 19, "placement": [0, 1]}`` (profile and
  placement let a rollback recreate the instance where it was)
* ``{"op": "create_gi", "profile": 19, "placement": [0, 1]}`` (always at an explicit
  placement, so an interrupted create is recognised by profile and placement)
* ``{"op": "create_ci", "gi": 7 or "gi_step": 3, "profile": 0 or None, "slices": 1 or
  None, "gi_profile": 9, "placement": [0, 1] or None}``: ``gi_step`` names the
  ``create_gi`` step of a GPU instance created in the same plan (the driver assigns its
  id at run time); ``profile`` None means "resolve ``slices`` (None: the default compute
  instance) once the GPU instance exists"
* ``{"op": "set_mig_mode", "enabled": true}``

Each step also carries ``label`` (e.g. ``1g.10gb``) for the action list users read. A
step's result (journaled) holds the ids it acted on or got from the driver.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import socket
import threading
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

from ._capabilities import architecture_name, capabilities_for
from ._errors import HardwareError, InputError, MigError, PlacementError, named
from ._files import read_regular_file, write_atomically
from ._lock import DEFAULT_LOCK_TIMEOUT, held_or_taken
from ._desired import fingerprint, placement_items
from ._model import Placement
from ._placement import plan as place_plan
from ._profiles import default_compute_profile, mig_profile_name, resolve

JOURNAL_FORMAT = 1

#: A journal holds a few hundred steps at most; anything larger is not one of ours.
JOURNAL_LIMIT = 4 * 1024 * 1024


class JournalError(MigError):
    """The journal cannot be read or written: the message says what to do."""

    def __init__(self, path, problem):
        self.path = path
        super(JournalError, self).__init__("journal %s %s" % (path, problem))

    def details(self):
        return {"journal": self.path}


def _write_json_atomically(path, document, mode=0o600):
    try:
        write_atomically(path, json.dumps(document, indent=1, sort_keys=True), mode, directory_mode=0o700)
    except OSError as error:
        raise JournalError(path, "cannot be written: %s" % (error.strerror or error))


#: Per step op: the fields it must carry as integers (journal validation).
_STEP_FIELDS = {
    "destroy_ci": ("gi", "ci", "profile"),
    "destroy_gi": ("gi", "profile"),
    "create_gi": ("profile",),
    "create_ci": (),
    "set_mig_mode": (),
}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _journal_problem(document):
    """What is wrong with the shape of a journal document (None: nothing), so recovery
    never trips over a field it expects (a KeyError half way through settling it)."""
    if not isinstance(document, dict):
        return "is not a JSON object"
    if document.get("format") != JOURNAL_FORMAT:
        return "has an unknown format %r" % (document.get("format"),)
    gpus = document.get("gpus")
    if not isinstance(gpus, dict):
        return "has no 'gpus' object"
    for index, entry in gpus.items():
        where = "GPU %s" % index
        if not index.isdigit() or not isinstance(entry, dict):
            return "names GPU %r with an entry that is not an object" % index
        if not isinstance(entry.get("uuid"), str) or not isinstance(entry.get("before"), list):
            return "%s: 'uuid' (text) and 'before' (list) are required" % where
        for record in entry["before"]:
            if not isinstance(record, dict) or not _is_int(record.get("gi_id")) or not isinstance(record.get("compute_instances"), list):
                return "%s: 'before' holds a record that is not an instance record" % where
        steps, done = entry.get("steps"), entry.get("done")
        if not isinstance(steps, list) or not isinstance(done, dict):
            return "%s: 'steps' (list) and 'done' (object) are required" % where
        for number, step in enumerate(steps):
            op = step.get("op") if isinstance(step, dict) else None
            if op not in _STEP_FIELDS:
                return "%s step %d: unknown op %r (known: %s)" % (where, number, op, ", ".join(sorted(_STEP_FIELDS)))
            missing = [field for field in _STEP_FIELDS[op] if not _is_int(step.get(field))]
            if op in ("create_gi", "destroy_ci", "destroy_gi") and not (isinstance(step.get("placement"), list) and len(step["placement"]) == 2):
                missing.append("placement")
            if op == "create_ci" and not (_is_int(step.get("gi")) or _is_int(step.get("gi_step"))):
                missing.append("gi or gi_step")
            if missing:
                return "%s step %d (%s): missing or malformed %s" % (where, number, op, ", ".join(missing))
        for number, result in done.items():
            if not number.isdigit() or int(number) >= len(steps) or not isinstance(result, dict):
                return "%s: done step %r is not a step of its plan" % (where, number)
    return None


class Journal(object):
    """The record of one run's plan, kept on disk until the run ends cleanly.

    Document: ``{"format", "pid", "host", "module", "started", "gpus": {index: {"uuid",
    "desired", "before", "steps", "done": {step index: result}}}}``. ``desired`` is the
    run's desired state for that GPU in a comparable form (None: the steps roll back an
    interrupted run, so they are always completed, never undone), ``before`` its
    instances when the steps started (``instance_records``). An entry stays until its GPU
    is settled: in its desired state, or back where the first interrupted run found it.
    Thread safe: workers of several GPUs record their steps concurrently.
    """

    def __init__(self, path, document):
        self.path = path
        self.document = document
        self._mutex = threading.Lock()

    @classmethod
    def find(cls, path):
        """The journal an interrupted run left behind, or None. Only a regular file of
        bounded size is read (never through a symlink, never blocking on a FIFO)."""
        try:
            text = read_regular_file(path, JOURNAL_LIMIT, what="journal")
        except OSError as error:
            if error.errno == errno.ENOENT:
                return None
            raise JournalError(path, "cannot be read: %s" % (error.strerror or error))
        try:
            document = json.loads(text.decode("utf-8"))
        except ValueError:
            # A journal is always replaced atomically, so a torn file cannot be ours.
            raise JournalError(path, "is not valid JSON; inspect and remove it")
        problem = _journal_problem(document)
        if problem:
            raise JournalError(
                path, "%s; it was not written by this version of gpuops.mig (or was edited): inspect and remove it" % problem
            )
        return cls(path, document)

    @classmethod
    def begin(cls, path, module, gpus):
        """Write a new journal for ``gpus`` ({index: {"uuid", "desired", "before",
        "steps", optional "done"}}) before the first change and return it."""
        document = {
            "format": JOURNAL_FORMAT,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "module": module,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "gpus": dict(
                (str(index), dict(entry, done=dict((str(number), result) for number, result in entry.get("done", {}).items())))
                for index, entry in gpus.items()
            ),
        }
        journal = cls(path, document)
        _write_json_atomically(path, document)
        return journal

    def gpu(self, index):
        return self.document["gpus"].get(str(index))

    def gpus(self):
        return sorted(int(index) for index in self.document["gpus"])

    def record(self, index, step_number, result):
        """Mark step ``step_number`` of GPU ``index`` done with ``result`` (e.g. the id the
        driver assigned) and persist the journal."""
        with self._mutex:
            self.document["gpus"][str(index)]["done"][str(step_number)] = result
            _write_json_atomically(self.path, self.document)

    def forget(self, index, step_number):
        """Mark a done step undone again (after rolling it back) and persist."""
        with self._mutex:
            self.document["gpus"][str(index)]["done"].pop(str(step_number), None)
            _write_json_atomically(self.path, self.document)

    def remove(self):
        _remove(self.path)


def _remove(path):
    try:
        os.unlink(path)
    except OSError as error:
        if error.errno != errno.ENOENT:
            raise JournalError(path, "cannot be removed: %s" % (error.strerror or error))


class RunFailed(MigError):
    """A change failed part way; ``result`` holds what the run did and what exists now."""

    def __init__(self, message, cause, result):
        self.cause = cause
        self.result = result
        super(RunFailed, self).__init__(message)

    def details(self):
        details = dict(self.result)
        details.update(self.cause.details())
        return details


def failed_after(error, actions):
    """``error`` raised after ``actions`` had already changed the host: a failure whose
    result says so (``changed: true``, those actions first)."""
    error = named(error)
    if not actions:
        return error
    if isinstance(error, RunFailed):
        error.result = dict(error.result, changed=True, actions=list(actions) + list(error.result.get("actions", [])))
        return error
    return RunFailed(str(error), error, {"changed": True, "actions": list(actions)})


def run_per_gpu(work, indices, parallel):
    """Call ``work(index)`` for every GPU index, at most ``parallel`` at a time.

    Returns ``({index: result}, {index: exception})``; a failing GPU does not stop the
    others here (``Executor`` stops its workers itself).
    """
    results, errors = {}, {}
    indices = list(indices)
    workers = len(indices) if parallel is None else min(parallel, len(indices))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = dict((index, pool.submit(work, index)) for index in indices)
        for index, future in futures.items():
            error = future.exception()
            if error is None:
                results[index] = future.result()
            else:
                errors[index] = error
        return results, errors
    for index in indices:
        try:
            results[index] = work(index)
        except Exception as error:  # pylint: disable=broad-except  # re-raised by the caller
            errors[index] = error
    return results, errors


# --------------------------------------------------------------------------- layouts


def instance_records(hardware, index):
    """The GPU's instances as JSON-able records (journal ``before``, results, messages)."""
    instances = hardware.gpu_instances(index)
    if not instances:
        return []
    profiles = dict((profile.profile_id, profile) for profile in hardware.gpu_instance_profiles(index))
    return [_record(instance, profiles.get(instance.profile_id)) for instance in instances]


def _record(instance, profile):
    return {
        "gi_id": instance.gi_id,
        "profile_id": instance.profile_id,
        "profile": profile.name if profile else str(instance.profile_id),
        "placement": [instance.placement.start, instance.placement.size],
        "compute_instances": [
            {
                "ci_id": compute.ci_id,
                "profile_id": compute.profile_id,
                "profile": mig_profile_name(profile, compute.placement.size) if profile else str(compute.profile_id),
                "placement": [compute.placement.start, compute.placement.size],
                "mig_uuid": compute.mig_uuid,
                "processes": list(compute.processes),
            }
            for compute in instance.compute_instances
        ],
        "processes": list(instance.processes),
    }


def describe_record(record):
    """``GI 7 1g.10gb at 0:1 (CI 0; processes 4242)`` for messages."""
    text = "GI %s %s at %d:%d" % (record["gi_id"], record["profile"], record["placement"][0], record["placement"][1])
    notes = []
    if record["compute_instances"]:
        notes.append("CI " + ", ".join(str(compute["ci_id"]) for compute in record["compute_instances"]))
    if record["processes"]:
        notes.append("processes " + ", ".join(str(pid) for pid in record["processes"]))
    return text + (" (%s)" % "; ".join(notes) if notes else "")


def gpu_summary(device, **extra):
    """What results report about a GPU."""
    summary = {
        "index": device.index,
        "uuid": device.uuid,
        "name": device.name,
        "pci_bus_id": device.pci_bus_id,
        "architecture": architecture_name(device.architecture),
        "mig": {"current": device.mig_current, "pending": device.mig_pending},
    }
    summary.update(extra)
    return summary


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


def _placement_dict(placement):
    return {"start": placement[0], "size": placement[1]}


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
            result["diff"] = {"before": _mode_view(before), "after": _mode_view(after)}
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
            failure = _first_failure(errors)
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


def _first_failure(errors):
    """The error of the lowest GPU index, as a MigError (None without errors)."""
    return named(errors[min(errors)]) if errors else None


def _mode_view(devices):
    return dict(
        ("gpu%d" % device.index, {"mig_current": device.mig_current, "mig_pending": device.mig_pending}) for device in devices
    )


# --------------------------------------------------------------------------- steps

ACTION_NAMES = {
    "destroy_ci": "destroy_compute_instance",
    "destroy_gi": "destroy_gpu_instance",
    "create_gi": "create_gpu_instance",
    "create_ci": "create_compute_instance",
    "set_mig_mode": "set_mig_mode",
}

#: One GPU's share of a run: the steps, the results of those already done ({step number:
#: result}), the desired-state fingerprint (None when settling an interrupted run) and
#: the instance records from before the run.
GpuWork = namedtuple("GpuWork", ["index", "steps", "done", "desired", "before"])


def steps_from_plan(plan, profiles, deferred=(), enable=False, disable=False):
    """The ordered steps of a ``_placement.Plan`` (see the module docstring).

    ``deferred`` lists ``_desired.Wanted`` entries whose compute instances are resolved
    once their GPU instance exists; ``enable``/``disable`` wrap the plan in a MIG mode
    change (AutoEnableMig).
    """
    by_id = dict((profile.profile_id, profile) for profile in profiles)
    steps = []
    if enable:
        steps.append({"op": "set_mig_mode", "enabled": True, "label": "enable MIG"})
    for gpu_instance, compute in plan.destroy_compute:
        steps.append(
            {
                "op": "destroy_ci",
                "gi": gpu_instance.gi_id,
                "ci": compute.ci_id,
                "profile": compute.profile_id,
                "placement": list(compute.placement),
                "label": mig_profile_name(by_id[gpu_instance.profile_id], compute.placement.size),
            }
        )
    for gpu_instance in plan.destroy:
        steps.append(
            {
                "op": "destroy_gi",
                "gi": gpu_instance.gi_id,
                "profile": gpu_instance.profile_id,
                "placement": list(gpu_instance.placement),
                "label": by_id[gpu_instance.profile_id].name,
            }
        )
    # Compute instances go largest first: the driver puts each at its first free start, so a
    # small one created first can take the only start a larger one has (2c in 3g on B200).
    for gpu_instance, compute_profile in sorted(plan.create_compute, key=lambda pair: (pair[0].gi_id, -pair[1].slice_count)):
        steps.append(_create_ci(by_id[gpu_instance.profile_id], compute_profile.slice_count, compute_profile.profile_id, gi=gpu_instance.gi_id))
    pool = list(deferred)
    for profile, placement, compute_profiles in plan.create:
        gi_step = len(steps)
        steps.append({"op": "create_gi", "profile": profile.profile_id, "placement": list(placement), "label": profile.name})
        if compute_profiles:
            ordered = sorted(compute_profiles, key=lambda ci: -ci.slice_count)
            steps.extend(_create_ci(profile, ci.slice_count, ci.profile_id, gi_step=gi_step) for ci in ordered)
            continue
        entry = _take_deferred(pool, profile, placement)
        if entry is not None:
            slices = [None] if entry.compute is None else sorted(entry.compute, reverse=True)
            steps.extend(_create_ci(profile, count, None, gi_step=gi_step) for count in slices)
    if disable:
        steps.append({"op": "set_mig_mode", "enabled": False, "label": "disable MIG"})
    return steps


def _create_ci(gi_profile, slices, profile_id, gi=None, gi_step=None):
    """A create_ci step; ``profile_id`` None = resolve ``slices`` (None: the default
    compute instance) once the GPU instance exists."""
    step = {
        "op": "create_ci",
        "profile": profile_id,
        "slices": slices,
        "gi_profile": gi_profile.profile_id,
        "label": mig_profile_name(gi_profile, slices or gi_profile.slice_count),
    }
    step.update(gi=gi) if gi_step is None else step.update(gi_step=gi_step)
    return step


def _take_deferred(pool, profile, placement):
    """The deferred Wanted a created GPU instance stands for: same fixed placement first,
    else the first one of that profile without a placement."""
    for fixed in (True, False):
        for entry in pool:
            if entry.profile.profile_id != profile.profile_id:
                continue
            if (entry.placement is not None and tuple(entry.placement) == tuple(placement)) if fixed else entry.placement is None:
                pool.remove(entry)
                return entry
    return None


def _gi_of(step, done):
    """The GPU instance id a step acts on (a ``gi_step`` reference resolved)."""
    if step.get("gi") is not None:
        return step["gi"]
    if step["gi_step"] not in done:
        raise MigError("the %s GPU instance this compute instance belongs to was not created" % step.get("label"))
    return done[step["gi_step"]]["gi"]


def inverse_steps(steps, done):
    """Steps undoing the ``done`` ones (newest first): destroy what was created, recreate
    what was destroyed at the same placement, restore the MIG mode."""
    inverse = []
    recreated = {}
    for number in sorted(done, reverse=True):
        step, result = steps[number], done[number]
        op = step["op"]
        label = step.get("label")
        if op == "create_ci":
            inverse.append(
                {"op": "destroy_ci", "gi": result["gi"], "ci": result["ci"], "profile": result["profile"], "placement": result["placement"], "label": label}
            )
        elif op == "create_gi":
            inverse.append({"op": "destroy_gi", "gi": result["gi"], "profile": step["profile"], "placement": step["placement"], "label": label})
        elif op == "destroy_gi":
            recreated[result["gi"]] = len(inverse)
            inverse.append({"op": "create_gi", "profile": step["profile"], "placement": step["placement"], "label": label})
        elif op == "destroy_ci":
            where = {"gi_step": recreated[result["gi"]]} if result["gi"] in recreated else {"gi": result["gi"]}
            step = dict(op="create_ci", profile=step["profile"], placement=step["placement"], label=label, **where)
            inverse.append(step)
        elif op == "set_mig_mode":
            inverse.append({"op": "set_mig_mode", "enabled": not step["enabled"], "label": "%s MIG" % ("disable" if step["enabled"] else "enable")})
    return inverse


def step_action(index, step, result=None):
    """The action-list entry users see for a step (with the driver's ids once done)."""
    action = {"gpu": index, "action": ACTION_NAMES[step["op"]]}
    if step["op"] == "set_mig_mode":
        action["enabled"] = step["enabled"]
        return action
    action["profile"] = step.get("label")
    if step["op"] in ("create_gi", "destroy_gi") and step.get("placement"):
        action["placement"] = _placement_dict(step["placement"])
    result = result or {}
    gi_id = result.get("gi", step.get("gi"))
    if gi_id is not None:
        action["gi_id"] = gi_id
    ci_id = result.get("ci", step.get("ci"))
    if ci_id is not None:
        action["ci_id"] = ci_id
    if result.get("mig_uuid"):
        action["mig_uuid"] = result["mig_uuid"]
    return action


class Executor(object):
    """Runs GpuWork through Hardware, one worker per GPU, journaling every step.

    ``execute`` writes the journal before the first step and removes it at the end; when
    a step fails, the other workers stop before their next step, every GPU's completed
    steps are undone (``inverse_steps``) and RunFailed reports the failure, the rollback
    and what exists afterwards.
    """

    def __init__(self, hardware, parallel=None, module="gpuops.mig.mig_instance"):
        self.hardware = hardware
        self.parallel = parallel
        self.module = module
        self._stop = threading.Event()
        self._uuids = {}
        self._gi_profiles = {}
        self._mutex = threading.Lock()
        #: journal updates that failed during a rollback (named in the failure message)
        self._journal_errors = []

    def execute(self, journal_path, works, previous=None, kept=None):
        """Run ``works`` ({index: GpuWork}); returns {index: {step number: result}}.

        Called with the host lock held. ``previous`` is the journal of an interrupted run
        that ``works`` settle: it is replaced by this run's journal (or removed when
        nothing is left to do), and put back when this run fails and is rolled back, since
        the host is then again in the state it describes. ``kept`` ({index: journal
        entry}) are entries of GPUs that cannot be settled now (unreadable): they stay in
        the journal, whatever this run does.
        """
        kept = kept or {}
        works = dict((index, work) for index, work in works.items() if len(work.done) < len(work.steps))
        if not works:
            self._close_journal(journal_path, kept)
            return {}
        self._uuids = dict((index, self.hardware.device(index).uuid) for index in works)
        entries = dict(kept)
        entries.update(
            (index, {"uuid": self._uuids[index], "desired": work.desired, "before": work.before, "steps": work.steps, "done": work.done})
            for index, work in works.items()
        )
        journal = Journal.begin(journal_path, self.module, entries)
        done = dict((index, dict(work.done)) for index, work in works.items())
        _results, errors = run_per_gpu(lambda index: self._forward(journal, works[index].steps, done[index], index), sorted(works), self.parallel)
        if not errors:
            self._close_journal(journal_path, kept)
            return done
        failure = _first_failure(errors)
        this_run = dict(
            (index, dict((number, result) for number, result in done[index].items() if number not in works[index].done)) for index in works
        )
        rollback = self._roll_back(journal, works, this_run)
        if all(action["ok"] for action in rollback):
            try:
                if previous is not None:
                    _write_json_atomically(journal_path, previous.document)
                else:
                    self._close_journal(journal_path, kept)
            except JournalError as error:
                self._journal_errors.append(str(error))
        raise self._failed(failure, works, this_run, rollback)

    def _close_journal(self, journal_path, kept):
        """The run's work is settled: remove the journal, or leave only the kept entries."""
        if kept:
            Journal.begin(journal_path, self.module, kept)
        else:
            _remove(journal_path)

    def _forward(self, journal, steps, done, index):
        for number, step in enumerate(steps):
            if number in done:
                continue
            if self._stop.is_set():
                return
            try:
                done[number] = self.run_step(index, step, done)
                journal.record(index, number, done[number])
            except BaseException:
                self._stop.set()
                raise
            if done[number].get("activation_status"):
                self._stop.set()
                raise HardwareError(
                    "nvmlDeviceSetMigMode",
                    done[number]["activation_status"],
                    index,
                    "the MIG mode change stays pending until the GPU is reset (gpuops.mig.mig_mode reset=auto)",
                )

    def run_step(self, index, step, done):
        """Perform one step; returns its result (the driver's ids) for the journal."""
        hardware = self.hardware
        op = step["op"]
        if op == "set_mig_mode":
            status = hardware.set_mig_mode(index, step["enabled"])
            return {"activation_status": status} if status else {}
        if op == "create_gi":
            created = hardware.create_gpu_instance(index, step["profile"], Placement(*step["placement"]))
            return {"gi": created.gi_id}
        gi_id = _gi_of(step, done)
        if op == "destroy_gi":
            hardware.destroy_gpu_instance(index, gi_id)
            return {"gi": gi_id}
        if op == "destroy_ci":
            hardware.destroy_compute_instance(index, gi_id, step["ci"])
            return {"gi": gi_id, "ci": step["ci"]}
        profile_id = step["profile"]
        if profile_id is None:
            profile_id = self._compute_profile(index, gi_id, step)
        placement = Placement(*step["placement"]) if step.get("placement") else None
        created = hardware.create_compute_instance(index, gi_id, profile_id, placement)
        return {"gi": gi_id, "ci": created.ci_id, "profile": created.profile_id, "placement": list(created.placement), "mig_uuid": created.mig_uuid}

    def _compute_profile(self, index, gi_id, step):
        """Resolve a deferred compute instance through the GPU instance just created."""
        learned = self.hardware.compute_instance_profiles(index, gi_id)
        gi_profile = self._gi_profile(index, step["gi_profile"])._replace(compute_profiles=learned)
        if step["slices"] is None:
            compute = default_compute_profile(gi_profile)
            if compute is None:
                raise PlacementError("GPU instance %s on GPU %d offers no default compute instance" % (gi_profile.name, index), gpu=index)
            return compute.profile_id
        return resolve("%dc.%s" % (step["slices"], gi_profile.name), [gi_profile], "compute_instances")[1].profile_id

    def _gi_profile(self, index, profile_id):
        with self._mutex:
            if index not in self._gi_profiles:
                self._gi_profiles[index] = dict((p.profile_id, p) for p in self.hardware.gpu_instance_profiles(index))
            return self._gi_profiles[index][profile_id]

    def _roll_back(self, journal, works, done):
        """Undo the steps in ``done`` ({index: {step number: result}}), newest first, on
        every GPU; returns the rollback actions (with ``ok``, and ``error`` when one failed)."""
        rollback = []

        def undo(index):
            originals = sorted(done[index], reverse=True)
            results = {}
            for position, (original, step) in enumerate(zip(originals, inverse_steps(works[index].steps, done[index]))):
                try:
                    results[position] = self.run_step(index, step, results)
                except Exception as error:  # pylint: disable=broad-except  # reported, the rollback goes on
                    rollback.append(dict(step_action(index, step), ok=False, error=str(named(error))))
                    continue
                rollback.append(dict(step_action(index, step, results[position]), ok=True))
                try:
                    journal.forget(index, original)
                except JournalError as error:  # the hardware matters more: undo the rest
                    self._journal_errors.append(str(error))

        run_per_gpu(undo, sorted(index for index in works if done[index]), self.parallel)
        return sorted(rollback, key=lambda action: action["gpu"])

    def _failed(self, failure, works, done, rollback):
        indices = sorted(works)
        now = dict((index, self._readable_records(index)) for index in indices)
        failed_gpu = getattr(failure, "gpu", None)
        where = "host %s" % socket.gethostname()
        if failed_gpu in works:
            where += " GPU %s (%s)" % (failed_gpu, self._uuids[failed_gpu])
        undone = [action for action in rollback if action["ok"]]
        broken = [action for action in rollback if not action["ok"]]
        message = "%s: %s" % (where, failure)
        if rollback:
            message += "; rolled back %d step(s)" % len(undone)
            if broken:
                message += ", %d rollback step(s) failed: %s" % (len(broken), "; ".join(action["error"] for action in broken))
        message += "; now: %s" % "; ".join("GPU %d: %s" % (index, _describe_records(now[index])) for index in indices)
        if self._journal_errors:
            message += "; the journal could not be kept up to date (%s): check it before the next run" % "; ".join(sorted(set(self._journal_errors)))
        actions = [step_action(index, works[index].steps[number], result) for index in indices for number, result in sorted(done[index].items())]
        return RunFailed(
            message,
            failure,
            {
                "changed": bool(actions),
                "actions": actions,
                "rollback": rollback,
                "instances": dict(("gpu%d" % i, None if isinstance(now[i], MigError) else now[i]) for i in indices),
            },
        )

    def _readable_records(self, index):
        """The GPU's instance records, or the error that keeps them from being read (a
        GPU that fell off the bus answers nothing)."""
        try:
            return instance_records(self.hardware, index)
        except HardwareError as error:
            return error


def _describe_records(records):
    if isinstance(records, MigError):
        return "cannot be read (%s)" % records
    return ", ".join(describe_record(record) for record in records) or "no instances"


# --------------------------------------------------------------------------- recovery


def _journaled_ids(before, steps, done):
    """GPU instance ids and (GI id, CI id) pairs the journal says exist: ``before`` with
    the done steps applied (ids the plan destroyed are free again, the driver may reuse
    them)."""
    gpu_instances = set(record["gi_id"] for record in before)
    computes = set((record["gi_id"], compute["ci_id"]) for record in before for compute in record["compute_instances"])
    for number in sorted(done):
        op, result = steps[number]["op"], done[number]
        if op == "create_gi":
            gpu_instances.add(result["gi"])
        elif op == "destroy_gi":
            gpu_instances.discard(result["gi"])
            computes = set(pair for pair in computes if pair[0] != result["gi"])
        elif op == "create_ci":
            computes.add((result["gi"], result["ci"]))
        elif op == "destroy_ci":
            computes.discard((result["gi"], result["ci"]))
    return gpu_instances, computes


def _observe(step, done, live, device, known):
    """The result of ``step`` when the live state shows it happened, else None.

    Used for the one step after the journal's last recorded one: the run may have been
    killed between the NVML call and the journal update. ``known`` is what
    ``_journaled_ids`` says exists; an instance beyond it that the step would have made is
    the step's.
    """
    op = step["op"]
    known_gpu_instances, known_computes = known
    if op == "set_mig_mode":
        return {} if device.mig_pending == step["enabled"] else None
    if op == "create_gi":
        for gpu_instance in live:
            if (gpu_instance.profile_id, list(gpu_instance.placement)) == (step["profile"], step["placement"]) and (
                gpu_instance.gi_id not in known_gpu_instances
            ):
                return {"gi": gpu_instance.gi_id}
        return None
    try:
        gi_id = _gi_of(step, done)
    except MigError:
        return None
    gpu_instance = next((candidate for candidate in live if candidate.gi_id == gi_id), None)
    if op == "destroy_gi":
        return {"gi": gi_id} if gpu_instance is None else None
    compute_ids = [compute.ci_id for compute in gpu_instance.compute_instances] if gpu_instance else []
    if op == "destroy_ci":
        return {"gi": gi_id, "ci": step["ci"]} if step["ci"] not in compute_ids else None
    for compute in gpu_instance.compute_instances if gpu_instance else ():
        if (gi_id, compute.ci_id) not in known_computes and step["profile"] in (None, compute.profile_id):
            return {"gi": gi_id, "ci": compute.ci_id, "profile": compute.profile_id, "placement": list(compute.placement), "mig_uuid": compute.mig_uuid}
    return None


def recovery_works(hardware, journal, fingerprints):
    """Settling the interrupted run(s) recorded in ``journal``: ``(works, kept)``.

    ``works`` ({index: GpuWork}): a GPU this run wants in the same desired state
    (``fingerprints``: {index: fingerprint}) completes the recorded plan; any other GPU
    goes back to its layout from before the first interrupted run: its completed steps
    are undone, or, when the entry is itself such a rollback (desired None), the rollback
    is completed. So however often runs are interrupted, an entry leads to the original
    layout or to the desired one, never to a state in between. Only steps of the recorded
    plan are (re)done or undone, so instances the interrupted run did not touch stay.

    ``kept`` ({index: (journal entry, HardwareError)}): GPUs that cannot be read now (lost,
    or gone from the bus); their entries stay in the journal until a run can settle them.
    A GPU with another UUID at that index was replaced: its entry is dropped.
    """
    works, kept = {}, {}
    count = hardware.device_count()
    for index in journal.gpus():
        entry = journal.gpu(index)
        try:
            if index >= count:
                raise HardwareError("nvmlDeviceGetHandleByIndex", "NVML_ERROR_NOT_FOUND", index, "the GPU is no longer on the bus")
            device = hardware.device(index)
            if device.uuid != entry["uuid"]:
                continue
            live = hardware.gpu_instances(index)
        except HardwareError as error:
            kept[index] = (entry, error)
            continue
        steps = entry["steps"]
        done = dict((int(number), result) for number, result in entry["done"].items())
        pending = [number for number in range(len(steps)) if number not in done]
        if pending:
            observed = _observe(steps[pending[0]], done, live, device, _journaled_ids(entry["before"], steps, done))
            if observed is not None:
                done[pending[0]] = observed
        if entry["desired"] is None or (index in fingerprints and fingerprints[index] == entry["desired"]):
            works[index] = GpuWork(index, steps, done, entry["desired"], entry["before"])
        elif done:
            works[index] = GpuWork(index, inverse_steps(steps, done), {}, None, instance_records(hardware, index))
    return works, kept


def refuse_unreadable(kept, selected, journal_path):
    """Fail when a GPU of this run is one the journal still has to settle but that cannot
    be read; other GPUs go on (the entry stays in the journal)."""
    blocked = sorted(index for index in kept if index in selected)
    if not blocked:
        return
    errors = [kept[index][1] for index in blocked]
    raise HardwareError(
        errors[0].call,
        errors[0].error,
        blocked[0],
        "GPU(s) %s (%s) took part in an interrupted run recorded in the journal %s and cannot be read now; "
        "the journal keeps their entries and the next run settles them once the GPU answers again (check the GPU, "
        "e.g. nvidia-smi -q; a reset or reboot brings a lost GPU back); runs on other GPUs are not blocked"
        % (", ".join(str(index) for index in blocked), "; ".join(str(error) for error in errors), journal_path),
    )


def _work_actions(works, done=None):
    """Action list of works: what was done (``done``) or what would be done."""
    actions = []
    for index in sorted(works):
        work = works[index]
        for number, step in enumerate(work.steps):
            if number in work.done:
                continue
            if done is None:
                actions.append(step_action(index, step))
            elif number in done.get(index, {}):
                actions.append(step_action(index, step, done[index][number]))
    return actions


def settle_interrupted_run(hardware, journal_path, check_mode, parallel=None, module="gpuops.mig.mig_mode", selected=()):
    """Roll back the plan of an interrupted run on every GPU it touched (for runs that
    carry no desired layout, such as mig_mode). -> {"recovered", "actions", "unsettled"}.
    A ``selected`` GPU the journal names but that cannot be read fails the run."""
    journal = Journal.find(journal_path)
    if journal is None:
        return {"recovered": False, "actions": [], "unsettled": []}
    works, kept = recovery_works(hardware, journal, {})
    refuse_unreadable(kept, selected, journal_path)
    if check_mode:
        return {"recovered": True, "actions": _work_actions(works), "unsettled": sorted(kept)}
    done = Executor(hardware, parallel, module).execute(journal_path, works, journal, _entries(kept))
    return {"recovered": True, "actions": _work_actions(works, done), "unsettled": sorted(kept)}


def _entries(kept):
    return dict((index, entry) for index, (entry, _error) in kept.items())


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
                phases = self._execute(journal_path, journal, settling, planned, replanned, fingerprints, _entries(kept))
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
        settle_actions = _work_actions(settling, settled)
        try:
            if replanned:
                self._check_mig_mode(replanned)
                planned.update(self._plan_all(replanned, fingerprints))
            done = Executor(self.hardware, self.parallel).execute(journal_path, planned, None, kept)
        except Exception as error:  # pylint: disable=broad-except  # re-raised, named
            raise failed_after(error, settle_actions)
        return [(settling, settled), (planned, done)]

    def _per_gpu(self, work, indices):
        """{index: work(index)} with the run's workers (reading a GPU takes many NVML calls);
        the first GPU's error is raised."""
        results, errors = run_per_gpu(work, sorted(indices), self.parallel)
        failure = _first_failure(errors)
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
        before = [_record(instance, by_id.get(instance.profile_id)) for instance in current]
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
        actions = [action for works, done in phases for action in _work_actions(works, done)]
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
            "placement": _placement_dict(placements[mig.gi_id]) if mig.gi_id in placements else None,
            "uuid": mig.uuid,
            "memory_mb": mig.memory_mb,
        }
        for mig in hardware.mig_devices(device.index)
    ]
