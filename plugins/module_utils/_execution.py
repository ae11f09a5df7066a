# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Executing planned steps: one worker per GPU, rollback when a step fails.

``Executor`` runs per-GPU step lists (``GpuWork``) through ``_nvml.Hardware``, GPUs in
parallel, journaling each step (``_journal``); when a step fails every GPU of the run is
rolled back (``inverse_steps``: undo completed steps, newest first) and ``RunFailed``
reports the rollback and what exists. ``instance_records`` are the JSON-able view of a
GPU's instances that journals, results and messages use.

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

import socket
import threading
from collections import namedtuple

from ._capabilities import architecture_name
from ._errors import HardwareError, MigError, PlacementError, named
from ._journal import Journal, JournalError, remove_journal
from ._model import Placement
from ._profiles import default_compute_profile, mig_profile_name, resolve


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
        # imported only here: a run that reads GPUs one after the other does not pay for it
        from concurrent.futures import ThreadPoolExecutor

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
    return [instance_record(instance, profiles.get(instance.profile_id)) for instance in instances]


def instance_record(instance, profile):
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


def first_failure(errors):
    """The error of the lowest GPU index, as a MigError (None without errors)."""
    return named(errors[min(errors)]) if errors else None


def mode_view(devices):
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


def step_gi_id(step, done):
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


def placement_dict(placement):
    return {"start": placement[0], "size": placement[1]}


def step_action(index, step, result=None):
    """The action-list entry users see for a step (with the driver's ids once done)."""
    action = {"gpu": index, "action": ACTION_NAMES[step["op"]]}
    if step["op"] == "set_mig_mode":
        action["enabled"] = step["enabled"]
        return action
    action["profile"] = step.get("label")
    if step["op"] in ("create_gi", "destroy_gi") and step.get("placement"):
        action["placement"] = placement_dict(step["placement"])
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
        failure = first_failure(errors)
        this_run = dict(
            (index, dict((number, result) for number, result in done[index].items() if number not in works[index].done)) for index in works
        )
        rollback = self._roll_back(journal, works, this_run)
        if all(action["ok"] for action in rollback):
            try:
                if previous is not None:
                    previous.write()
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
            remove_journal(journal_path)

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
        gi_id = step_gi_id(step, done)
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
