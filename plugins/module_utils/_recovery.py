# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Settling an interrupted run: a journal left behind by a run that did not end.

``recovery_works`` compares the journal's plan with what the GPUs show now and builds the
work that completes or rolls back each GPU's steps; ``settle_interrupted_run`` runs it
(or, in check mode, says what it would do) before a new change starts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ._errors import HardwareError, MigError
from ._execution import Executor, GpuWork, instance_records, inverse_steps, step_action, step_gi_id
from ._journal import Journal


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
        gi_id = step_gi_id(step, done)
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


def work_actions(works, done=None):
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
        return {"recovered": True, "actions": work_actions(works), "unsettled": sorted(kept)}
    done = Executor(hardware, parallel, module).execute(journal_path, works, journal, kept_entries(kept))
    return {"recovered": True, "actions": work_actions(works, done), "unsettled": sorted(kept)}


def kept_entries(kept):
    """{index: journal entry} of the GPUs whose entries stay unsettled (``kept``: {index:
    (entry, error)})."""
    return dict((index, entry) for index, (entry, _error) in kept.items())
