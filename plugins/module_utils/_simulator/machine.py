# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a simulated GPU behaves: MIG mode, GPU/compute instance creation and destruction,
capacity, ids, UUIDs, reset, faults and latency, as pure functions on the host state dict
(see host.py for the state layout). nvml_lib.py marshals NVML calls onto these; host.py
uses them for the operations that are not NVML calls (GPU reset, reboot).

Failures raise NvmlFailure with the NVML return code the driver would give.

Modelling choices where the reference leaves the behaviour open (documented, not facts):
* A placement the profile does not list -> INVALID_ARGUMENT (reference 7: not confirmed).
* Capacity: besides free memory slots and instanceCount, the SM and engine (CE, DEC, ENC,
  JPEG, OFA) counts of all GPU instances together may not exceed those of the full-GPU
  profile. This one rule reproduces "one +me at a time", "+me.all prevents all but -me"
  and "RTX PRO 6000 +me / +me.all are mutually exclusive (one OFA)" from the data.
* Disabling MIG while GPU instances exist -> IN_USE (return code, nothing changes).
* MIG mode on Ampere: SetMigMode only records the pending mode (activation status
  RESET_REQUIRED on hosts without GPU reset, IN_USE while held, else SUCCESS); it becomes
  current at the next GPU reset. Hopper and later apply it at once unless a process or an
  active GPU client unit holds the GPU (then pending, activation status IN_USE).
* Creating a GPU instance while a process holds the whole GPU (a process with no GPU
  instance, e.g. a profiler with /dev/nvidia0 open) -> IN_USE (reference 7, GH200 log).
* A GPU reset destroys all GPU instances (they do not survive a reset or reboot).
* Stale handles (instance destroyed, GPU reset) -> INVALID_ARGUMENT.

With MIG disabled the driver still answers the read queries as for a GPU without
instances (real capture, H200, driver 580.159.04): remaining capacity = the full counts,
no GPU instances, GPU instance / MIG device by id or index -> NOT_FOUND. Only creating
instances needs MIG enabled (NOT_SUPPORTED otherwise).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from .boards import ARCH_AMPERE, BOARDS, full_profile

#: NVML return codes by name (nvml.h); fault specs and host errors use these names.
NVML_RETURN_CODES = {
    "NVML_SUCCESS": 0,
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_INVALID_ARGUMENT": 2,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_ALREADY_INITIALIZED": 5,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_INSUFFICIENT_SIZE": 7,
    "NVML_ERROR_INSUFFICIENT_POWER": 8,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_TIMEOUT": 10,
    "NVML_ERROR_IRQ_ISSUE": 11,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_CORRUPTED_INFOROM": 14,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_RESET_REQUIRED": 16,
    "NVML_ERROR_OPERATING_SYSTEM": 17,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": 18,
    "NVML_ERROR_IN_USE": 19,
    "NVML_ERROR_MEMORY": 20,
    "NVML_ERROR_NO_DATA": 21,
    "NVML_ERROR_INSUFFICIENT_RESOURCES": 23,
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH": 25,
    "NVML_ERROR_NOT_READY": 27,
    "NVML_ERROR_UNKNOWN": 999,
}
ERROR_NAMES = dict((code, name) for name, code in NVML_RETURN_CODES.items())

SUCCESS = 0
INVALID_ARGUMENT = 2
NOT_SUPPORTED = 3
NOT_FOUND = 6
INSUFFICIENT_SIZE = 7
GPU_IS_LOST = 15
RESET_REQUIRED = 16
IN_USE = 19
INSUFFICIENT_RESOURCES = 23

#: The calls that change the machine; counted in state["mutating_calls"].
MUTATING_FUNCTIONS = (
    "nvmlDeviceSetMigMode",
    "nvmlDeviceCreateGpuInstance",
    "nvmlDeviceCreateGpuInstanceWithPlacement",
    "nvmlGpuInstanceDestroy",
    "nvmlGpuInstanceCreateComputeInstance",
    "nvmlGpuInstanceCreateComputeInstanceWithPlacement",
    "nvmlComputeInstanceDestroy",
)

#: latency "realistic": seconds per call. Estimates (no measurements were published), kept
#: modest so simulated runs stay quick; anything not listed takes "default".
REALISTIC_LATENCY = {
    "default": 0.001,
    "nvmlInitWithFlags": 0.05,
    "nvmlDeviceSetMigMode": 1.0,
    "nvmlDeviceCreateGpuInstance": 0.3,
    "nvmlDeviceCreateGpuInstanceWithPlacement": 0.3,
    "nvmlGpuInstanceDestroy": 0.2,
    "nvmlGpuInstanceCreateComputeInstance": 0.1,
    "nvmlGpuInstanceCreateComputeInstanceWithPlacement": 0.1,
    "nvmlComputeInstanceDestroy": 0.1,
}

_ENGINE_FIELDS = ("sm", "ce", "dec", "enc", "jpeg", "ofa")


class NvmlFailure(Exception):
    """An NVML call fails with ``code`` (an NVML_ERROR_* value)."""

    def __init__(self, code, message=None):
        self.code = code
        self.error = ERROR_NAMES.get(code, "NVML_ERROR_%d" % code)
        super(NvmlFailure, self).__init__(message or self.error)


def board_of(gpu):
    return BOARDS[gpu["board"]]


def gpu_by_index(state, index):
    if not 0 <= index < len(state["gpus"]):
        raise NvmlFailure(INVALID_ARGUMENT, "no GPU with index %s" % index)
    return state["gpus"][index]


def require_present(gpu):
    if gpu.get("lost"):
        raise NvmlFailure(GPU_IS_LOST, "GPU %d has fallen off the bus" % gpu["index"])


def require_mig_enabled(gpu):
    if not gpu["mig"]["current"]:
        raise NvmlFailure(NOT_SUPPORTED, "MIG mode is disabled on GPU %d" % gpu["index"])


def gi_profile_by_id(board, profile_id):
    for profile in board["gpu_instance_profiles"]:
        if profile["id"] == profile_id:
            return profile
    return None


def gi_profile_by_enum(board, enum):
    for profile in board["gpu_instance_profiles"]:
        if profile["enum"] == enum:
            return profile
    return None


def ci_profile_by_id(gi_profile, ci_profile_id):
    for profile in gi_profile["compute_profiles"]:
        if profile["id"] == ci_profile_id:
            return profile
    return None


def find_gpu_instance(gpu, gi_id):
    for gpu_instance in gpu["gpu_instances"]:
        if gpu_instance["gi_id"] == gi_id:
            return gpu_instance
    return None


def find_compute_instance(gpu_instance, ci_id):
    for compute_instance in gpu_instance["compute_instances"]:
        if compute_instance["ci_id"] == ci_id:
            return compute_instance
    return None


def processes_on(state, index, gi_id=None, ci_id=None):
    """Processes on GPU ``index``, optionally only those inside one GI / CI."""
    found = []
    for process in state["processes"]:
        if process["gpu"] != index:
            continue
        if gi_id is not None and process.get("gi_id") != gi_id:
            continue
        if ci_id is not None and process.get("ci_id") != ci_id:
            continue
        found.append(process)
    return found


def holders(state, index):
    """What keeps GPU ``index`` from being reset or switching MIG mode: process pids and
    active GPU client units."""
    found = ["pid %d (%s)" % (p["pid"], p.get("name", "")) for p in processes_on(state, index)]
    for name in sorted(state["units"]):
        unit = state["units"][name]
        if unit["active"] and index in unit["gpus"]:
            found.append("unit %s" % name)
    return found


def next_generation(state):
    state["generation"] = state.get("generation", 0) + 1
    return state["generation"]


def _uuid_text(prefix, seed):
    digest = hashlib.sha1(seed.encode("utf-8")).hexdigest()
    return "%s-%s-%s-%s-%s-%s" % (prefix, digest[0:8], digest[8:12], digest[12:16], digest[16:20], digest[20:32])


def gpu_uuid(host_seed, index):
    """Deterministic GPU UUID of GPU ``index`` of the host identified by ``host_seed``."""
    return _uuid_text("GPU", "%s/gpu%d" % (host_seed, index))


def mig_uuid(parent_uuid, gi_id, ci_id, generation):
    """MIG device UUID, stable for the life of the compute instance; a recreated instance
    (new generation) gets a new one, as on hardware."""
    return _uuid_text("MIG", "%s/gi%d/ci%d/%d" % (parent_uuid, gi_id, ci_id, generation))


def _occupied_slots(gpu_instances):
    slots = set()
    for gpu_instance in gpu_instances:
        slots.update(range(gpu_instance["start"], gpu_instance["start"] + gpu_instance["size"]))
    return slots


def _fits(board, gpu_instances, profile, placement):
    """Whether ``profile`` at ``placement`` ([start, size]) can join ``gpu_instances``."""
    start, size = placement
    if _occupied_slots(gpu_instances) & set(range(start, start + size)):
        return False
    same = [gi for gi in gpu_instances if gi["profile_id"] == profile["id"]]
    if len(same) >= profile["instances"]:
        return False
    capacity = full_profile(board)
    for field in _ENGINE_FIELDS:
        used = sum(gi_profile_by_id(board, gi["profile_id"])[field] for gi in gpu_instances)
        if used + profile[field] > capacity[field]:
            return False
    return True


def _default_placements(profile):
    by_start = dict((placement[0], placement) for placement in profile["placements"])
    return [by_start[start] for start in profile["default_order"]]


def _first_fit(board, gpu_instances, profile):
    for placement in _default_placements(profile):
        if _fits(board, gpu_instances, profile, placement):
            return placement
    return None


def _choose_gi_id(gpu, profile, placement):
    """Driver-style id for the placement (board data), else the lowest free id."""
    used = set(gi["gi_id"] for gi in gpu["gpu_instances"])
    preferred = profile["gi_ids"][profile["placements"].index(list(placement))]
    if preferred not in used:
        return preferred
    candidate = 1
    while candidate in used:
        candidate += 1
    return candidate


def create_gpu_instance(state, index, profile_id, placement=None):
    """Create a GI (``placement`` [start, size] or None for the driver's default order)."""
    gpu = gpu_by_index(state, index)
    board = board_of(gpu)
    require_mig_enabled(gpu)
    profile = gi_profile_by_id(board, profile_id)
    if profile is None:
        raise NvmlFailure(INVALID_ARGUMENT, "profile id %s is not offered by %s" % (profile_id, board["name"]))
    if [p for p in processes_on(state, index) if p.get("gi_id") is None]:
        raise NvmlFailure(IN_USE, "a process holds GPU %d" % index)
    if placement is None:
        placement = _first_fit(board, gpu["gpu_instances"], profile)
        if placement is None:
            raise NvmlFailure(INSUFFICIENT_RESOURCES)
    else:
        placement = [int(placement[0]), int(placement[1])]
        if placement not in profile["placements"]:
            raise NvmlFailure(INVALID_ARGUMENT, "placement %s not valid for profile %s" % (placement, profile["name"]))
        if not _fits(board, gpu["gpu_instances"], profile, placement):
            raise NvmlFailure(INSUFFICIENT_RESOURCES)
    gpu_instance = {
        "gi_id": _choose_gi_id(gpu, profile, placement),
        "profile_id": profile["id"],
        "start": placement[0],
        "size": placement[1],
        "generation": next_generation(state),
        "compute_instances": [],
    }
    gpu["gpu_instances"].append(gpu_instance)
    gpu["gpu_instances"].sort(key=lambda gi: gi["gi_id"])
    return gpu_instance


def remaining_gpu_instance_capacity(state, index, profile_id):
    """How many more GIs of the profile the driver would create, one after another. With
    MIG disabled the driver answers the counts of an empty GPU (real capture, H200)."""
    gpu = gpu_by_index(state, index)
    board = board_of(gpu)
    profile = gi_profile_by_id(board, profile_id)
    if profile is None:
        raise NvmlFailure(INVALID_ARGUMENT)
    instances = list(gpu["gpu_instances"])
    count = 0
    while True:
        placement = _first_fit(board, instances, profile)
        if placement is None:
            return count
        instances.append({"profile_id": profile["id"], "start": placement[0], "size": placement[1]})
        count += 1


def destroy_gpu_instance(state, index, gpu_instance):
    if gpu_instance["compute_instances"] or processes_on(state, index, gi_id=gpu_instance["gi_id"]):
        raise NvmlFailure(IN_USE, "GPU instance %d has compute instances or processes" % gpu_instance["gi_id"])
    gpu = gpu_by_index(state, index)
    gpu["gpu_instances"].remove(gpu_instance)


def _ci_fits(gpu_instance, ci_profile, placement):
    start, size = placement
    used = set()
    for compute_instance in gpu_instance["compute_instances"]:
        used.update(range(compute_instance["start"], compute_instance["start"] + compute_instance["size"]))
    if used & set(range(start, start + size)):
        return False
    same = [ci for ci in gpu_instance["compute_instances"] if ci["profile_id"] == ci_profile["id"]]
    return len(same) < ci_profile["instances"]


def _ci_profile_in(gpu, gpu_instance, ci_profile_id):
    gi_profile = gi_profile_by_id(board_of(gpu), gpu_instance["profile_id"])
    ci_profile = ci_profile_by_id(gi_profile, ci_profile_id)
    if ci_profile is None:
        raise NvmlFailure(INVALID_ARGUMENT, "CI profile %s not offered in GI %d" % (ci_profile_id, gpu_instance["gi_id"]))
    return ci_profile


def create_compute_instance(state, index, gpu_instance, ci_profile_id, placement=None):
    gpu = gpu_by_index(state, index)
    ci_profile = _ci_profile_in(gpu, gpu_instance, ci_profile_id)
    if placement is None:
        candidates = [p for p in ci_profile["placements"] if _ci_fits(gpu_instance, ci_profile, p)]
        if not candidates:
            raise NvmlFailure(INSUFFICIENT_RESOURCES)
        placement = candidates[0]
    else:
        placement = [int(placement[0]), int(placement[1])]
        if placement not in ci_profile["placements"]:
            raise NvmlFailure(INVALID_ARGUMENT, "CI placement %s not valid for %s" % (placement, ci_profile["name"]))
        if not _ci_fits(gpu_instance, ci_profile, placement):
            raise NvmlFailure(INSUFFICIENT_RESOURCES)
    used = set(ci["ci_id"] for ci in gpu_instance["compute_instances"])
    ci_id = 0
    while ci_id in used:
        ci_id += 1
    generation = next_generation(state)
    compute_instance = {
        "ci_id": ci_id,
        "profile_id": ci_profile["id"],
        "start": placement[0],
        "size": placement[1],
        "generation": generation,
        "mig_uuid": mig_uuid(gpu["uuid"], gpu_instance["gi_id"], ci_id, generation),
    }
    gpu_instance["compute_instances"].append(compute_instance)
    gpu_instance["compute_instances"].sort(key=lambda ci: ci["ci_id"])
    return compute_instance


def remaining_compute_instance_capacity(state, index, gpu_instance, ci_profile_id):
    gpu = gpu_by_index(state, index)
    ci_profile = _ci_profile_in(gpu, gpu_instance, ci_profile_id)
    trial = {"compute_instances": list(gpu_instance["compute_instances"])}
    count = 0
    for placement in ci_profile["placements"]:
        if _ci_fits(trial, ci_profile, placement):
            trial["compute_instances"].append({"profile_id": ci_profile["id"], "start": placement[0], "size": placement[1]})
            count += 1
    return count


def destroy_compute_instance(state, index, gpu_instance, compute_instance):
    if processes_on(state, index, gi_id=gpu_instance["gi_id"], ci_id=compute_instance["ci_id"]):
        raise NvmlFailure(IN_USE, "compute instance %d has processes" % compute_instance["ci_id"])
    gpu_instance["compute_instances"].remove(compute_instance)


def mig_devices(gpu):
    """(gpu_instance, compute_instance) pairs in MIG device index order (GI id, CI id)."""
    pairs = []
    for gpu_instance in sorted(gpu["gpu_instances"], key=lambda gi: gi["gi_id"]):
        for compute_instance in sorted(gpu_instance["compute_instances"], key=lambda ci: ci["ci_id"]):
            pairs.append((gpu_instance, compute_instance))
    return pairs


def set_mig_mode(state, index, mode):
    """Request MIG mode ``mode`` (0/1); returns the activation status code."""
    gpu = gpu_by_index(state, index)
    if mode not in (0, 1):
        raise NvmlFailure(INVALID_ARGUMENT, "MIG mode must be 0 or 1")
    enable = bool(mode)
    if not enable and gpu["gpu_instances"]:
        raise NvmlFailure(IN_USE, "GPU %d still has GPU instances" % index)
    gpu["mig"]["pending"] = enable
    if gpu["mig"]["current"] == enable:
        return SUCCESS
    if board_of(gpu)["architecture"] == ARCH_AMPERE:
        if not state["reset_supported"]:
            return RESET_REQUIRED
        return IN_USE if holders(state, index) else SUCCESS
    if holders(state, index):
        return IN_USE
    gpu["mig"]["current"] = enable
    return SUCCESS


def reset_gpu(state, index):
    """``nvidia-smi --gpu-reset -i index``: applies the pending MIG mode; every GPU
    instance is gone afterwards."""
    gpu = gpu_by_index(state, index)
    require_present(gpu)
    if not state["reset_supported"]:
        raise NvmlFailure(NOT_SUPPORTED, "GPU reset is not supported on this host (passthrough VM): reboot required")
    blocking = holders(state, index)
    if blocking:
        raise NvmlFailure(IN_USE, "GPU %d is in use by %s" % (index, ", ".join(blocking)))
    gpu["mig"]["current"] = gpu["mig"]["pending"]
    gpu["gpu_instances"] = []


def reboot(state):
    """Host reboot: processes end, every GPU comes back present with its pending MIG mode
    applied and no GPU instances."""
    state["processes"] = []
    for gpu in state["gpus"]:
        gpu["mig"]["current"] = gpu["mig"]["pending"]
        gpu["gpu_instances"] = []
        gpu["lost"] = False


def fault_pending(state, function):
    return any(fault["function"] == function for fault in state["faults"])


def take_fault(state, function, index):
    """Count a call of ``function`` (on GPU ``index`` or None) against the armed faults;
    returns the error code of a fault that fires, else None. A fired fault is consumed
    unless persistent; a fired GPU_IS_LOST marks its GPU lost."""
    for fault in list(state["faults"]):
        if fault["function"] != function:
            continue
        if fault.get("gpu") is not None and fault["gpu"] != index:
            continue
        if fault["remaining"] > 1:
            fault["remaining"] -= 1
            continue
        if not fault.get("persistent"):
            state["faults"].remove(fault)
        code = NVML_RETURN_CODES[fault["error"]]
        if code == GPU_IS_LOST and index is not None:
            state["gpus"][index]["lost"] = True
        return code
    return None


def latency_for(state, function):
    latency = state.get("latency") or {}
    if latency == "realistic":
        latency = REALISTIC_LATENCY
    return latency.get(function, latency.get("default", 0))
