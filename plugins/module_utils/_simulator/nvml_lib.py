# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A simulated ``libnvidia-ml`` that sits beneath the real pynvml bindings.

pynvml keeps the loaded library in ``pynvml.nvmlLib`` and looks each C function up with
``getattr``. ``install(state_path)`` puts a SimulatedNvmlLibrary there: its attributes are
Python functions named like the C functions, taking the ctypes arguments pynvml passes
(opaque handles as ``POINTER(struct)`` objects, ``byref()`` out-parameters, arrays, plain
ints), filling the same structs and returning NVML return codes. pynvml's marshalling,
struct version checks and NVMLError_* classes therefore run unchanged. Functions not
implemented here return NVML_ERROR_FUNCTION_NOT_FOUND, like an older driver would.

Handles are integers stored in the pointer value: a magic byte, the handle kind (device,
MIG device, GPU instance, compute instance), GPU index, GI id, CI id and the instance's
generation (host-wide counter), so handles of destroyed or recreated instances are
detected as stale (NVML_ERROR_INVALID_ARGUMENT).

Reads take the state file's shared lock and reuse the parsed state while the file is
unchanged (same device, inode, mtime and size); they never write. Mutating calls (and
read calls that have an armed fault to count) take the exclusive lock, count themselves
in ``mutating_calls`` and write the state back atomically. Latency (state["latency"]) is
slept before the call and outside the state lock, so calls on different GPUs overlap as
they do in the driver (the state update itself is short and serialised).

Arrays with a caller-given size (possible placements, running processes) follow NVML's
convention: a NULL array asks for the count (placements: SUCCESS; process lists:
INSUFFICIENT_SIZE unless empty); a too-small ``*count`` gives NVML_ERROR_INSUFFICIENT_SIZE
with the needed count.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import fcntl
import hashlib
import os
import threading
import time

from .._capabilities import VIRTUALIZATION_MODES
from . import devnodes, machine
from .boards import ARCH_HOPPER, CI_PROFILE_COUNT, GI_PROFILE_COUNT
from .machine import (
    INSUFFICIENT_SIZE,
    INVALID_ARGUMENT,
    NOT_FOUND,
    NOT_SUPPORTED,
    SUCCESS,
    NvmlFailure,
)
from .presets import PRESETS
from .state import SimulatorStateError, lock_path, locked_state, read_state

UNINITIALIZED = 1
DRIVER_NOT_LOADED = 9
FUNCTION_NOT_FOUND = 13

_MIB = 1024 * 1024
_NOT_AVAILABLE_UINT = 0xFFFFFFFF
_GI_CAPS_GFX = 0x2
_COMPUTEMODE_DEFAULT = 0
_FABRIC_STATE_NOT_SUPPORTED = 0
_FABRIC_STATE_NOT_STARTED = 1
_FABRIC_STATE_COMPLETED = 3
_FABRIC_HEALTH_SUMMARY_HEALTHY = 1
#: Clique id of a single NVSwitch baseboard's GPUs (inferred: one clique per fabric).
_FABRIC_CLIQUE_ID = 1

_MAGIC = 0xA5
_KIND_DEVICE = 1
_KIND_MIG = 2
_KIND_GPU_INSTANCE = 3
_KIND_COMPUTE_INSTANCE = 4

# name -> (implementation, takes_gpu_context). Functions without GPU context count their
# faults before running; the others when they first resolve a GPU.
_IMPLEMENTATIONS = {}

_ERROR_STRINGS = {
    0: "Success",
    1: "Uninitialized",
    2: "Invalid Argument",
    3: "Not Supported",
    4: "Insufficient Permissions",
    5: "Already Initialized",
    6: "Not Found",
    7: "Insufficient Size",
    9: "Driver Not Loaded",
    13: "Function Not Found",
    15: "GPU is lost",
    16: "GPU requires restart",
    19: "In use by another client",
    23: "Insufficient Resources",
    25: "Argument version mismatch",
    999: "Unknown Error",
}


def _nvml(*names, **options):
    """Register an implementation under one or more NVML function names."""

    def register(function):
        for name in names:
            _IMPLEMENTATIONS[name] = (function, options.get("gpu_context", True))
        return function

    return register


def _encode(kind, index, gi_id=0, ci_id=0, generation=0):
    return (_MAGIC << 56) | (kind << 52) | (index << 44) | (gi_id << 36) | (ci_id << 28) | generation


def _decode(handle):
    """(kind, index, gi_id, ci_id, generation) of a handle, or raise INVALID_ARGUMENT."""
    if isinstance(handle, int):
        value = handle
    else:
        try:
            value = ctypes.cast(handle, ctypes.c_void_p).value
        except (TypeError, ctypes.ArgumentError):
            value = None
    if not value or value >> 56 != _MAGIC:
        raise NvmlFailure(INVALID_ARGUMENT, "not a simulated NVML handle")
    return ((value >> 52) & 0xF, (value >> 44) & 0xFF, (value >> 36) & 0xFF, (value >> 28) & 0xFF,
            value & 0xFFFFFFF)


def _target(ref):
    """The ctypes object an out/in pointer argument refers to (byref, pointer or object)."""
    if ref is None:
        raise NvmlFailure(INVALID_ARGUMENT, "NULL pointer")
    obj = getattr(ref, "_obj", None)
    if obj is not None:
        return obj
    if isinstance(ref, ctypes._Pointer):
        return ref.contents
    return ref


def _sequence(ref):
    """An indexable view (Array or pointer) of an array argument."""
    obj = getattr(ref, "_obj", None)
    return obj if obj is not None else ref


def _as_int(value):
    return int(getattr(value, "value", value))


def _set_value(ref, value):
    _target(ref).value = value


def _handle_pointer(pointer_type, value):
    return ctypes.cast(ctypes.c_void_p(value), pointer_type)


def _set_handle(ref, value):
    target = _target(ref)
    ctypes.c_void_p.from_buffer(target).value = value


def _set_handle_field(struct, field, value):
    field_type = dict(struct._fields_)[field]
    setattr(struct, field, _handle_pointer(field_type, value))


def _set_fields(struct, values):
    """Set the struct fields that exist (v2/v3 layouts differ) from a dict."""
    present = set(field[0] for field in struct._fields_)
    for name, value in values.items():
        if name in present:
            setattr(struct, name, value)


def _check_version(struct, major_versions):
    version = getattr(struct, "version", 0)
    if version >> 24 not in major_versions or version & 0xFFFFFF != ctypes.sizeof(struct):
        raise NvmlFailure(INVALID_ARGUMENT, "unsupported struct version 0x%08x" % version)


def _write_string(buffer, length, text):
    data = text.encode("utf-8")
    if len(data) + 1 > _as_int(length):
        raise NvmlFailure(INSUFFICIENT_SIZE)
    buffer.value = data


def _write_sized_array(array_ref, count_ref, items, write_item, null_is_query=False):
    """NVML's sized-array convention; ``write_item(sequence, i, item)``. A NULL array
    returns the count: successfully for placement queries (``null_is_query``), with
    INSUFFICIENT_SIZE for process lists that are not empty."""
    count = _target(count_ref)
    capacity = count.value
    count.value = len(items)
    if array_ref is None:
        return SUCCESS if null_is_query or not items else INSUFFICIENT_SIZE
    if capacity < len(items):
        return INSUFFICIENT_SIZE
    sequence = _sequence(array_ref)
    for position, item in enumerate(items):
        write_item(sequence, position, item)
    return SUCCESS


def _write_handle_array(array_ref, count_ref, handles):
    """Fill an array of opaque handles (GetGpuInstances/GetComputeInstances)."""
    sequence = _sequence(array_ref)
    if isinstance(sequence, ctypes.Array) and len(sequence) < len(handles):
        _set_value(count_ref, len(handles))
        return INSUFFICIENT_SIZE
    for position, handle in enumerate(handles):
        sequence[position] = _handle_pointer(sequence._type_, handle)
    _set_value(count_ref, len(handles))
    return SUCCESS


def _write_placement(sequence, position, placement):
    sequence[position].start = placement[0]
    sequence[position].size = placement[1]


class _Call(object):
    """One NVML call against one view of the state."""

    def __init__(self, name, state, writable):
        self.name = name
        self.state = state
        self.writable = writable
        self.faults_checked = False

    def count_fault(self, index):
        if self.faults_checked:
            return
        self.faults_checked = True
        if self.writable:
            code = machine.take_fault(self.state, self.name, index)
            if code is not None:
                raise NvmlFailure(code)

    def gpu(self, index):
        gpu = machine.gpu_by_index(self.state, index)
        self.count_fault(index)
        machine.require_present(gpu)
        return gpu

    def _mig_pair(self, gpu, gi_id, ci_id, generation):
        gpu_instance = machine.find_gpu_instance(gpu, gi_id)
        compute_instance = gpu_instance and machine.find_compute_instance(gpu_instance, ci_id)
        if not compute_instance or compute_instance["generation"] != generation:
            raise NvmlFailure(INVALID_ARGUMENT, "stale MIG device / compute instance handle")
        return gpu_instance, compute_instance

    def device(self, handle, allow_mig=False):
        """(gpu, mig) for a device handle; mig is (gpu_instance, compute_instance) for a
        MIG device handle (only accepted with allow_mig, else NOT_SUPPORTED)."""
        kind, index, gi_id, ci_id, generation = _decode(handle)
        if kind not in (_KIND_DEVICE, _KIND_MIG):
            raise NvmlFailure(INVALID_ARGUMENT, "not a device handle")
        gpu = self.gpu(index)
        if kind == _KIND_DEVICE:
            return gpu, None
        mig = self._mig_pair(gpu, gi_id, ci_id, generation)
        if not allow_mig:
            raise NvmlFailure(NOT_SUPPORTED, "not supported on a MIG device handle")
        return gpu, mig

    def full_device(self, handle):
        return self.device(handle)[0]

    def gpu_instance(self, handle):
        kind, index, gi_id, _ci, generation = _decode(handle)
        if kind != _KIND_GPU_INSTANCE:
            raise NvmlFailure(INVALID_ARGUMENT, "not a GPU instance handle")
        gpu = self.gpu(index)
        gpu_instance = machine.find_gpu_instance(gpu, gi_id)
        if gpu_instance is None or gpu_instance["generation"] != generation:
            raise NvmlFailure(INVALID_ARGUMENT, "stale GPU instance handle")
        return gpu, gpu_instance

    def compute_instance(self, handle):
        kind, index, gi_id, ci_id, generation = _decode(handle)
        if kind != _KIND_COMPUTE_INSTANCE:
            raise NvmlFailure(INVALID_ARGUMENT, "not a compute instance handle")
        gpu = self.gpu(index)
        gpu_instance, compute_instance = self._mig_pair(gpu, gi_id, ci_id, generation)
        return gpu, gpu_instance, compute_instance


def _device_handle(gpu):
    return _encode(_KIND_DEVICE, gpu["index"])


def _mig_handle(gpu, gpu_instance, compute_instance):
    return _encode(_KIND_MIG, gpu["index"], gpu_instance["gi_id"], compute_instance["ci_id"],
                   compute_instance["generation"])


def _gi_handle(gpu, gpu_instance):
    return _encode(_KIND_GPU_INSTANCE, gpu["index"], gpu_instance["gi_id"], 0, gpu_instance["generation"])


def _ci_handle(gpu, gpu_instance, compute_instance):
    return _encode(_KIND_COMPUTE_INSTANCE, gpu["index"], gpu_instance["gi_id"], compute_instance["ci_id"],
                   compute_instance["generation"])


def _gi_profile(gpu, gpu_instance):
    return machine.gi_profile_by_id(machine.board_of(gpu), gpu_instance["profile_id"])


def _ci_profile(gpu, gpu_instance, compute_instance):
    return machine.ci_profile_by_id(_gi_profile(gpu, gpu_instance), compute_instance["profile_id"])


# ---------------------------------------------------------------- library lifecycle

@_nvml("nvmlInitWithFlags", "nvmlInit_v2", gpu_context=False)
def _init(call, flags=0):
    return SUCCESS


@_nvml("nvmlShutdown", gpu_context=False)
def _shutdown(call):
    return SUCCESS


@_nvml("nvmlSystemGetDriverVersion", gpu_context=False)
def _driver_version(call, buffer, length):
    _write_string(buffer, length, call.state["driver_version"])


@_nvml("nvmlSystemGetNVMLVersion", gpu_context=False)
def _nvml_version(call, buffer, length):
    major = call.state["cuda_driver_version"] // 1000
    _write_string(buffer, length, "%d.%s" % (major, call.state["driver_version"]))


@_nvml("nvmlSystemGetCudaDriverVersion", "nvmlSystemGetCudaDriverVersion_v2", gpu_context=False)
def _cuda_version(call, version_ref):
    _set_value(version_ref, call.state["cuda_driver_version"])


@_nvml("nvmlSystemGetProcessName", gpu_context=False)
def _process_name(call, pid, buffer, length):
    for process in call.state["processes"]:
        if process["pid"] == _as_int(pid):
            return _write_string(buffer, length, process["name"])
    raise NvmlFailure(NOT_FOUND)


# ---------------------------------------------------------------- devices

@_nvml("nvmlDeviceGetCount_v2", gpu_context=False)
def _device_count(call, count_ref):
    _set_value(count_ref, len(call.state["gpus"]))


@_nvml("nvmlDeviceGetHandleByIndex_v2")
def _handle_by_index(call, index, device_ref):
    _set_handle(device_ref, _device_handle(call.gpu(_as_int(index))))


@_nvml("nvmlDeviceGetHandleByUUID", gpu_context=False)
def _handle_by_uuid(call, uuid, device_ref):
    wanted = (uuid.value if hasattr(uuid, "value") else uuid)
    wanted = wanted.decode("utf-8") if isinstance(wanted, bytes) else wanted
    for gpu in call.state["gpus"]:
        if gpu["uuid"] == wanted:
            return _set_handle(device_ref, _device_handle(call.gpu(gpu["index"])))
        for gpu_instance, compute_instance in machine.mig_devices(gpu):
            if compute_instance["mig_uuid"] == wanted:
                call.gpu(gpu["index"])
                return _set_handle(device_ref, _mig_handle(gpu, gpu_instance, compute_instance))
    raise NvmlFailure(NOT_FOUND)


def _normalise_bus_id(bus_id):
    """'0000:07:00.0', '07:00.0' and '00000000:07:00.0' name the same device."""
    text = bus_id.decode("utf-8") if isinstance(bus_id, bytes) else bus_id
    parts = text.strip().upper().split(":")
    if len(parts) == 2:
        parts.insert(0, "0")
    try:
        domain, bus, device_function = parts
        return "%08X:%02X:%s" % (int(domain, 16), int(bus, 16), device_function)
    except ValueError:
        raise NvmlFailure(INVALID_ARGUMENT, "malformed PCI bus id %r" % text)


@_nvml("nvmlDeviceGetHandleByPciBusId_v2", "nvmlDeviceGetHandleByPciBusId", gpu_context=False)
def _handle_by_bus_id(call, bus_id, device_ref):
    wanted = _normalise_bus_id(bus_id.value if hasattr(bus_id, "value") else bus_id)
    for gpu in call.state["gpus"]:
        if _normalise_bus_id(gpu["pci_bus_id"]) == wanted:
            return _set_handle(device_ref, _device_handle(call.gpu(gpu["index"])))
    raise NvmlFailure(NOT_FOUND)


@_nvml("nvmlDeviceGetName")
def _name(call, handle, buffer, length):
    gpu, mig = call.device(handle, allow_mig=True)
    name = machine.board_of(gpu)["name"]
    if mig:
        name = "%s MIG %s" % (name, _ci_profile(gpu, *mig)["name"])
    _write_string(buffer, length, name)


@_nvml("nvmlDeviceGetUUID")
def _uuid(call, handle, buffer, length):
    gpu, mig = call.device(handle, allow_mig=True)
    _write_string(buffer, length, mig[1]["mig_uuid"] if mig else gpu["uuid"])


@_nvml("nvmlDeviceGetSerial")
def _serial(call, handle, buffer, length):
    _write_string(buffer, length, call.full_device(handle)["serial"])


@_nvml("nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2")
def _pci_info(call, handle, info_ref):
    gpu, _mig = call.device(handle, allow_mig=True)
    board = machine.board_of(gpu)
    domain, bus, device_function = gpu["pci_bus_id"].split(":")
    device = device_function.split(".")[0]
    info = _target(info_ref)
    _set_fields(info, {
        "busIdLegacy": ("%04X:%s:%s" % (int(domain, 16), bus, device_function)).encode("ascii"),
        "busId": gpu["pci_bus_id"].encode("ascii"),
        "domain": int(domain, 16),
        "bus": int(bus, 16),
        "device": int(device, 16),
        "pciDeviceId": board["pci_device_id"],
        "pciSubSystemId": board["pci_subsystem_id"],
    })


@_nvml("nvmlDeviceGetArchitecture")
def _architecture(call, handle, arch_ref):
    gpu, _mig = call.device(handle, allow_mig=True)
    _set_value(arch_ref, machine.board_of(gpu)["architecture"])


@_nvml("nvmlDeviceGetModuleId")
def _module_id(call, handle, module_ref):
    _set_value(module_ref, call.full_device(handle)["module_id"])


@_nvml("nvmlDeviceGetMinorNumber")
def _minor(call, handle, minor_ref):
    _set_value(minor_ref, call.full_device(handle)["minor"])


def _memory(call, handle):
    """(total, reserved, used by processes) bytes of the device or MIG device. Reserved:
    what the driver keeps (board data; not known for MIG devices, 0)."""
    gpu, mig = call.device(handle, allow_mig=True)
    reserved = 0
    if mig:
        gpu_instance, compute_instance = mig
        total = _gi_profile(gpu, gpu_instance)["memory_mb"]
        processes = machine.processes_on(call.state, gpu["index"], gpu_instance["gi_id"], compute_instance["ci_id"])
    else:
        board = machine.board_of(gpu)
        total = board["memory_total_mb"]
        reserved = board.get("memory_reserved_bytes", 0)
        processes = machine.processes_on(call.state, gpu["index"])
    used = sum(p.get("used_memory_mb", 0) for p in processes)
    return total * _MIB, reserved, used * _MIB


@_nvml("nvmlDeviceGetMemoryInfo")
def _memory_info(call, handle, memory_ref):
    """v1 counts reserved memory as used (real capture: used = reserved on an idle H200)."""
    total, reserved, used = _memory(call, handle)
    _set_fields(_target(memory_ref), {"total": total, "used": reserved + used, "free": total - reserved - used})


@_nvml("nvmlDeviceGetMemoryInfo_v2")
def _memory_info_v2(call, handle, memory_ref):
    memory = _target(memory_ref)
    _check_version(memory, (2,))
    total, reserved, used = _memory(call, handle)
    _set_fields(memory, {"total": total, "reserved": reserved, "used": used, "free": total - reserved - used})


def _process_rows(call, handle):
    gpu, mig = call.device(handle, allow_mig=True)
    if mig:
        processes = machine.processes_on(call.state, gpu["index"], mig[0]["gi_id"], mig[1]["ci_id"])
    else:
        processes = machine.processes_on(call.state, gpu["index"])
    return processes


def _write_process(sequence, position, process):
    gi_id, ci_id = process.get("gi_id"), process.get("ci_id")
    _set_fields(sequence[position], {
        "pid": process["pid"],
        "usedGpuMemory": process.get("used_memory_mb", 0) * _MIB,
        "gpuInstanceId": _NOT_AVAILABLE_UINT if gi_id is None else gi_id,
        "computeInstanceId": _NOT_AVAILABLE_UINT if ci_id is None else ci_id,
    })


@_nvml("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2")
def _compute_processes(call, handle, count_ref, infos):
    return _write_sized_array(infos, count_ref, _process_rows(call, handle), _write_process)


@_nvml("nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v2",
       "nvmlDeviceGetMPSComputeRunningProcesses_v3", "nvmlDeviceGetMPSComputeRunningProcesses_v2")
def _no_processes(call, handle, count_ref, infos):
    call.device(handle, allow_mig=True)
    return _write_sized_array(infos, count_ref, [], _write_process)


# ---------------------------------------------------------------- deployment

@_nvml("nvmlDeviceGetVirtualizationMode")
def _virtualization_mode(call, handle, mode_ref):
    call.full_device(handle)
    mode = call.state.get("virtualization_mode") or PRESETS[call.state["preset"]]["virtualization_mode"]
    _set_value(mode_ref, VIRTUALIZATION_MODES[mode])


@_nvml("nvmlDeviceGetPersistenceMode")
def _persistence_mode(call, handle, mode_ref):
    """Enabled everywhere (inferred: datacenter hosts run nvidia-persistenced; the real
    H200 VM had it on)."""
    call.full_device(handle)
    _set_value(mode_ref, 1)


@_nvml("nvmlDeviceGetComputeMode")
def _compute_mode(call, handle, mode_ref):
    call.full_device(handle)
    _set_value(mode_ref, _COMPUTEMODE_DEFAULT)


def _fabric_values(state, gpu):
    """nvmlGpuFabricInfo fields of ``gpu``. Without an NVSwitch fabric: SUCCESS with state
    NOT_SUPPORTED and zeros (real capture, H200 in a passthrough VM). With one (inferred,
    no capture): NOT_STARTED until the simulated Fabric Manager runs and has registered
    the GPU, then COMPLETED with the host's cluster UUID, one clique for the baseboard and
    a healthy summary. Before Hopper the probe does not exist: NOT_SUPPORTED (inferred)."""
    if machine.board_of(gpu)["architecture"] < ARCH_HOPPER:
        raise NvmlFailure(NOT_SUPPORTED, "no GPU fabric probe before Hopper")
    fabric = state["fabric"]
    values = {"clusterUuid": (ctypes.c_ubyte * 16)(), "status": SUCCESS, "cliqueId": 0,
              "state": _FABRIC_STATE_NOT_SUPPORTED, "healthMask": 0, "healthSummary": 0}
    if fabric["nvswitch"]:
        values["state"] = _FABRIC_STATE_NOT_STARTED
    if fabric["nvswitch"] and fabric.get("fm_running"):
        digest = hashlib.sha1(("%s/fabric" % state["host_seed"]).encode("utf-8")).digest()
        values.update(clusterUuid=(ctypes.c_ubyte * 16)(*bytearray(digest[:16])), cliqueId=_FABRIC_CLIQUE_ID,
                      state=_FABRIC_STATE_COMPLETED, healthSummary=_FABRIC_HEALTH_SUMMARY_HEALTHY)
    return values


@_nvml("nvmlDeviceGetGpuFabricInfo")
def _fabric_info(call, handle, info_ref):
    _set_fields(_target(info_ref), _fabric_values(call.state, call.full_device(handle)))


@_nvml("nvmlDeviceGetGpuFabricInfoV")
def _fabric_info_v(call, handle, info_ref):
    info = _target(info_ref)
    _check_version(info, (2, 3))
    _set_fields(info, _fabric_values(call.state, call.full_device(handle)))


# ---------------------------------------------------------------- MIG mode

@_nvml("nvmlDeviceGetMigMode")
def _get_mig_mode(call, handle, current_ref, pending_ref):
    gpu = call.full_device(handle)
    _set_value(current_ref, int(gpu["mig"]["current"]))
    _set_value(pending_ref, int(gpu["mig"]["pending"]))


@_nvml("nvmlDeviceSetMigMode")
def _set_mig_mode(call, handle, mode, status_ref):
    gpu = call.full_device(handle)
    _set_value(status_ref, machine.set_mig_mode(call.state, gpu["index"], _as_int(mode)))


# ---------------------------------------------------------------- GPU-instance profiles

def _gi_profile_values(board, profile):
    return {
        "id": profile["id"],
        "isP2pSupported": 0,
        "sliceCount": profile["slices"],
        "instanceCount": profile["instances"],
        "multiprocessorCount": profile["sm"],
        "copyEngineCount": profile["ce"],
        "decoderCount": profile["dec"],
        "encoderCount": profile["enc"],
        "jpegCount": profile["jpeg"],
        "ofaCount": profile["ofa"],
        "memorySizeMB": profile["memory_mb"],
        "name": ("MIG " + profile["name"]).encode("utf-8"),
        "capabilities": _GI_CAPS_GFX if profile["name"].endswith("+gfx") else 0,
    }


def _profile_by_enum(call, handle, enum):
    gpu = call.full_device(handle)
    enum = _as_int(enum)
    if not 0 <= enum < GI_PROFILE_COUNT:
        raise NvmlFailure(INVALID_ARGUMENT, "profile enum %d out of range" % enum)
    board = machine.board_of(gpu)
    profile = machine.gi_profile_by_enum(board, enum)
    if profile is None:
        raise NvmlFailure(NOT_SUPPORTED)
    return board, profile


@_nvml("nvmlDeviceGetGpuInstanceProfileInfo")
def _gi_profile_info(call, handle, enum, info_ref):
    board, profile = _profile_by_enum(call, handle, enum)
    _set_fields(_target(info_ref), _gi_profile_values(board, profile))


def _fill_versioned_gi_profile(info, board, profile):
    """The driver answers a versioned GPU-instance profile struct with its version field
    zeroed (real capture, driver 580.159.04, v2; v3 and ByIdV inferred alike)."""
    _set_fields(info, _gi_profile_values(board, profile))
    info.version = 0


@_nvml("nvmlDeviceGetGpuInstanceProfileInfoV")
def _gi_profile_info_v(call, handle, enum, info_ref):
    info = _target(info_ref)
    _check_version(info, (2, 3))
    _fill_versioned_gi_profile(info, *_profile_by_enum(call, handle, enum))


def _profile_by_id(call, handle, profile_id, missing=NOT_SUPPORTED):
    gpu = call.full_device(handle)
    board = machine.board_of(gpu)
    profile = machine.gi_profile_by_id(board, _as_int(profile_id))
    if profile is None:
        raise NvmlFailure(missing, "profile id %s not offered" % _as_int(profile_id))
    return gpu, board, profile


@_nvml("nvmlDeviceGetGpuInstanceProfileInfoByIdV")
def _gi_profile_info_by_id(call, handle, profile_id, info_ref):
    info = _target(info_ref)
    _check_version(info, (2, 3))
    _gpu, board, profile = _profile_by_id(call, handle, profile_id)
    _fill_versioned_gi_profile(info, board, profile)


@_nvml("nvmlDeviceGetGpuInstancePossiblePlacements_v2", "nvmlDeviceGetGpuInstancePossiblePlacements")
def _gi_possible_placements(call, handle, profile_id, placements, count_ref):
    _gpu, _board, profile = _profile_by_id(call, handle, profile_id)
    return _write_sized_array(placements, count_ref, profile["placements"], _write_placement,
                              null_is_query=True)


@_nvml("nvmlDeviceGetGpuInstanceRemainingCapacity")
def _gi_remaining(call, handle, profile_id, count_ref):
    gpu = call.full_device(handle)
    _set_value(count_ref, machine.remaining_gpu_instance_capacity(call.state, gpu["index"], _as_int(profile_id)))


# ---------------------------------------------------------------- GPU instances

def _create_gi(call, handle, profile_id, placement, instance_ref):
    gpu = call.full_device(handle)
    gpu_instance = machine.create_gpu_instance(call.state, gpu["index"], _as_int(profile_id), placement)
    _set_handle(instance_ref, _gi_handle(gpu, gpu_instance))


@_nvml("nvmlDeviceCreateGpuInstance")
def _create_gpu_instance(call, handle, profile_id, instance_ref):
    _create_gi(call, handle, profile_id, None, instance_ref)


@_nvml("nvmlDeviceCreateGpuInstanceWithPlacement")
def _create_gpu_instance_placed(call, handle, profile_id, placement, instance_ref):
    wanted = _target(placement)
    _create_gi(call, handle, profile_id, [wanted.start, wanted.size], instance_ref)


@_nvml("nvmlGpuInstanceDestroy")
def _destroy_gpu_instance(call, instance):
    gpu, gpu_instance = call.gpu_instance(instance)
    machine.destroy_gpu_instance(call.state, gpu["index"], gpu_instance)


@_nvml("nvmlDeviceGetGpuInstances")
def _gpu_instances(call, handle, profile_id, instances, count_ref):
    gpu, _board, profile = _profile_by_id(call, handle, profile_id, missing=INVALID_ARGUMENT)
    handles = [_gi_handle(gpu, gi) for gi in gpu["gpu_instances"] if gi["profile_id"] == profile["id"]]
    return _write_handle_array(instances, count_ref, handles)


@_nvml("nvmlDeviceGetGpuInstanceById")
def _gpu_instance_by_id(call, handle, gi_id, instance_ref):
    gpu = call.full_device(handle)
    gpu_instance = machine.find_gpu_instance(gpu, _as_int(gi_id))
    if gpu_instance is None:
        raise NvmlFailure(NOT_FOUND)
    _set_handle(instance_ref, _gi_handle(gpu, gpu_instance))


@_nvml("nvmlGpuInstanceGetInfo")
def _gpu_instance_info(call, instance, info_ref):
    gpu, gpu_instance = call.gpu_instance(instance)
    info = _target(info_ref)
    _set_handle_field(info, "device", _device_handle(gpu))
    info.id = gpu_instance["gi_id"]
    info.profileId = gpu_instance["profile_id"]
    info.placement.start = gpu_instance["start"]
    info.placement.size = gpu_instance["size"]


# ---------------------------------------------------------------- compute-instance profiles

def _ci_profile_values(gi_profile, profile):
    return {
        "id": profile["id"],
        "sliceCount": profile["slices"],
        "instanceCount": profile["instances"],
        "multiprocessorCount": profile["sm"],
        "sharedCopyEngineCount": gi_profile["ce"],
        "sharedDecoderCount": gi_profile["dec"],
        "sharedEncoderCount": gi_profile["enc"],
        "sharedJpegCount": gi_profile["jpeg"],
        "sharedOfaCount": gi_profile["ofa"],
        "name": ("MIG " + profile["name"]).encode("utf-8"),
        "capabilities": 0,
    }


def _ci_profile_lookup(call, instance, enum, eng_profile):
    gpu, gpu_instance = call.gpu_instance(instance)
    enum = _as_int(enum)
    if not 0 <= enum < CI_PROFILE_COUNT or _as_int(eng_profile) != 0:
        raise NvmlFailure(INVALID_ARGUMENT)
    gi_profile = _gi_profile(gpu, gpu_instance)
    profile = machine.ci_profile_by_id(gi_profile, enum)
    if profile is None:
        raise NvmlFailure(NOT_SUPPORTED)
    return gi_profile, profile


@_nvml("nvmlGpuInstanceGetComputeInstanceProfileInfo")
def _ci_profile_info(call, instance, enum, eng_profile, info_ref):
    _set_fields(_target(info_ref), _ci_profile_values(*_ci_profile_lookup(call, instance, enum, eng_profile)))


@_nvml("nvmlGpuInstanceGetComputeInstanceProfileInfoV")
def _ci_profile_info_v(call, instance, enum, eng_profile, info_ref):
    info = _target(info_ref)
    _check_version(info, (2, 3))
    _set_fields(info, _ci_profile_values(*_ci_profile_lookup(call, instance, enum, eng_profile)))


@_nvml("nvmlGpuInstanceGetComputeInstancePossiblePlacements")
def _ci_possible_placements(call, instance, profile_id, placements, count_ref):
    gpu, gpu_instance = call.gpu_instance(instance)
    profile = machine.ci_profile_by_id(_gi_profile(gpu, gpu_instance), _as_int(profile_id))
    if profile is None:
        raise NvmlFailure(NOT_SUPPORTED)
    return _write_sized_array(placements, count_ref, profile["placements"], _write_placement,
                              null_is_query=True)


@_nvml("nvmlGpuInstanceGetComputeInstanceRemainingCapacity")
def _ci_remaining(call, instance, profile_id, count_ref):
    gpu, gpu_instance = call.gpu_instance(instance)
    _set_value(count_ref, machine.remaining_compute_instance_capacity(
        call.state, gpu["index"], gpu_instance, _as_int(profile_id)))


# ---------------------------------------------------------------- compute instances

def _create_ci(call, instance, profile_id, placement, instance_ref):
    gpu, gpu_instance = call.gpu_instance(instance)
    compute_instance = machine.create_compute_instance(
        call.state, gpu["index"], gpu_instance, _as_int(profile_id), placement)
    _set_handle(instance_ref, _ci_handle(gpu, gpu_instance, compute_instance))


@_nvml("nvmlGpuInstanceCreateComputeInstance")
def _create_compute_instance(call, instance, profile_id, instance_ref):
    _create_ci(call, instance, profile_id, None, instance_ref)


@_nvml("nvmlGpuInstanceCreateComputeInstanceWithPlacement")
def _create_compute_instance_placed(call, instance, profile_id, placement, instance_ref):
    wanted = _target(placement)
    _create_ci(call, instance, profile_id, [wanted.start, wanted.size], instance_ref)


@_nvml("nvmlComputeInstanceDestroy")
def _destroy_compute_instance(call, instance):
    gpu, gpu_instance, compute_instance = call.compute_instance(instance)
    machine.destroy_compute_instance(call.state, gpu["index"], gpu_instance, compute_instance)


@_nvml("nvmlGpuInstanceGetComputeInstances")
def _compute_instances(call, instance, profile_id, instances, count_ref):
    gpu, gpu_instance = call.gpu_instance(instance)
    if machine.ci_profile_by_id(_gi_profile(gpu, gpu_instance), _as_int(profile_id)) is None:
        raise NvmlFailure(INVALID_ARGUMENT)
    handles = [_ci_handle(gpu, gpu_instance, ci) for ci in gpu_instance["compute_instances"]
               if ci["profile_id"] == _as_int(profile_id)]
    return _write_handle_array(instances, count_ref, handles)


@_nvml("nvmlGpuInstanceGetComputeInstanceById")
def _compute_instance_by_id(call, instance, ci_id, instance_ref):
    gpu, gpu_instance = call.gpu_instance(instance)
    compute_instance = machine.find_compute_instance(gpu_instance, _as_int(ci_id))
    if compute_instance is None:
        raise NvmlFailure(NOT_FOUND)
    _set_handle(instance_ref, _ci_handle(gpu, gpu_instance, compute_instance))


@_nvml("nvmlComputeInstanceGetInfo_v2", "nvmlComputeInstanceGetInfo")
def _compute_instance_info(call, instance, info_ref):
    gpu, gpu_instance, compute_instance = call.compute_instance(instance)
    info = _target(info_ref)
    _set_handle_field(info, "device", _device_handle(gpu))
    _set_handle_field(info, "gpuInstance", _gi_handle(gpu, gpu_instance))
    info.id = compute_instance["ci_id"]
    info.profileId = compute_instance["profile_id"]
    info.placement.start = compute_instance["start"]
    info.placement.size = compute_instance["size"]


# ---------------------------------------------------------------- MIG devices

@_nvml("nvmlDeviceIsMigDeviceHandle")
def _is_mig_handle(call, handle, flag_ref):
    _gpu, mig = call.device(handle, allow_mig=True)
    _set_value(flag_ref, 1 if mig else 0)


def _mig_of(call, handle):
    gpu, mig = call.device(handle, allow_mig=True)
    if not mig:
        raise NvmlFailure(NOT_SUPPORTED, "not a MIG device handle")
    return gpu, mig


@_nvml("nvmlDeviceGetGpuInstanceId")
def _mig_gi_id(call, handle, id_ref):
    _set_value(id_ref, _mig_of(call, handle)[1][0]["gi_id"])


@_nvml("nvmlDeviceGetComputeInstanceId")
def _mig_ci_id(call, handle, id_ref):
    _set_value(id_ref, _mig_of(call, handle)[1][1]["ci_id"])


@_nvml("nvmlDeviceGetMaxMigDeviceCount")
def _max_mig_devices(call, handle, count_ref):
    gpu = call.full_device(handle)
    _set_value(count_ref, machine.board_of(gpu)["max_mig_devices"] if gpu["mig"]["current"] else 0)


@_nvml("nvmlDeviceGetMigDeviceHandleByIndex")
def _mig_handle_by_index(call, handle, index, mig_ref):
    gpu = call.full_device(handle)
    devices = machine.mig_devices(gpu)
    index = _as_int(index)
    if not 0 <= index < len(devices):
        raise NvmlFailure(NOT_FOUND)
    _set_handle(mig_ref, _mig_handle(gpu, *devices[index]))


@_nvml("nvmlDeviceGetDeviceHandleFromMigDeviceHandle")
def _parent_handle(call, handle, device_ref):
    gpu, mig = call.device(handle, allow_mig=True)
    if not mig:
        raise NvmlFailure(INVALID_ARGUMENT, "not a MIG device handle")
    _set_handle(device_ref, _device_handle(gpu))


@_nvml("nvmlDeviceGetAttributes_v2", "nvmlDeviceGetAttributes")
def _attributes(call, handle, attributes_ref):
    gpu, (gpu_instance, compute_instance) = _mig_of(call, handle)
    gi_profile = _gi_profile(gpu, gpu_instance)
    ci_profile = machine.ci_profile_by_id(gi_profile, compute_instance["profile_id"])
    _set_fields(_target(attributes_ref), {
        "multiprocessorCount": ci_profile["sm"],
        "sharedCopyEngineCount": gi_profile["ce"],
        "sharedDecoderCount": gi_profile["dec"],
        "sharedEncoderCount": gi_profile["enc"],
        "sharedJpegCount": gi_profile["jpeg"],
        "sharedOfaCount": gi_profile["ofa"],
        "gpuInstanceSliceCount": gi_profile["slices"],
        "computeInstanceSliceCount": ci_profile["slices"],
        "memorySizeMB": gi_profile["memory_mb"],
    })


#: Every NVML function the simulator answers (others: NVML_ERROR_FUNCTION_NOT_FOUND).
IMPLEMENTED_FUNCTIONS = tuple(sorted(set(_IMPLEMENTATIONS) | {"nvmlErrorString"}))


def _spend(seconds):
    """Simulated call latency (a zero sleep is skipped: it still costs a system call)."""
    if seconds:
        time.sleep(seconds)


def error_string(code):
    return _ERROR_STRINGS.get(code, "Unknown Error").encode("utf-8")


class SimulatedNvmlLibrary(object):
    """Drop-in for pynvml's ``nvmlLib`` backed by the simulated host at ``state_path``."""

    def __init__(self, state_path):
        self.state_path = os.path.abspath(state_path)
        self._functions = {}
        self._initialized = 0
        self._read_lock = threading.Lock()
        self._lock_fd = None
        self._cache_key = None
        self._cache = None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        function = self._functions.get(name)
        if function is None:
            function = self._function(name)
            self._functions[name] = function
        return function

    def _function(self, name):
        if name == "nvmlErrorString":
            return error_string
        if name not in _IMPLEMENTATIONS:
            def not_found(*_args):
                return FUNCTION_NOT_FOUND
            not_found.__name__ = name
            return not_found
        implementation, gpu_context = _IMPLEMENTATIONS[name]

        def nvml_function(*args):
            return self._dispatch(name, implementation, gpu_context, args)
        nvml_function.__name__ = name
        return nvml_function

    def _read(self):
        """The current state, parsed again only when the file changed."""
        with self._read_lock:
            if self._lock_fd is None:
                self._lock_fd = os.open(lock_path(self.state_path), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
            try:
                stat = os.stat(self.state_path)
                key = (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)
                if key != self._cache_key:
                    self._cache = read_state(self.state_path)
                    self._cache_key = key
                return self._cache
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _dispatch(self, name, implementation, gpu_context, args):
        lifecycle = name in ("nvmlInitWithFlags", "nvmlInit_v2", "nvmlShutdown")
        if not self._initialized and (not lifecycle or name == "nvmlShutdown"):
            return UNINITIALIZED
        try:
            state = self._read()
        except (OSError, SimulatorStateError):
            return DRIVER_NOT_LOADED
        _spend(machine.latency_for(state, name))
        if name in machine.MUTATING_FUNCTIONS or machine.fault_pending(state, name):
            code = self._run_locked(name, implementation, gpu_context, args)
        else:
            code = self._run(_Call(name, state, False), implementation, gpu_context, args)
        if code == SUCCESS and lifecycle:
            self._initialized += -1 if name == "nvmlShutdown" else 1
        return code

    def _run_locked(self, name, implementation, gpu_context, args):
        try:
            with locked_state(self.state_path) as state:
                if name in machine.MUTATING_FUNCTIONS:
                    counts = state.setdefault("mutating_calls", {})
                    counts[name] = counts.get(name, 0) + 1
                code = self._run(_Call(name, state, True), implementation, gpu_context, args)
                if code == SUCCESS and name in machine.MUTATING_FUNCTIONS:
                    devnodes.sync_cap_nodes(state)
        except (OSError, SimulatorStateError):
            return DRIVER_NOT_LOADED
        finally:
            self._cache_key = None
        return code

    @staticmethod
    def _run(call, implementation, gpu_context, args):
        try:
            if not gpu_context:
                call.count_fault(None)
            code = implementation(call, *args)
        except NvmlFailure as failure:
            return failure.code
        return SUCCESS if code is None else code


_installed = {}


def install(state_path):
    """Make pynvml talk to the simulated host at ``state_path``; returns the library."""
    import pynvml  # only needed here: the rest of the simulator is plain ctypes

    if not os.path.exists(state_path):
        raise SimulatorStateError("simulated host state file %s does not exist" % os.path.abspath(state_path))
    library = SimulatedNvmlLibrary(state_path)
    with pynvml.libLoadLock:
        if "previous" not in _installed:
            _installed["previous"] = pynvml.nvmlLib
        pynvml.nvmlLib = library
        pynvml._nvmlGetFunctionPointer_cache.clear()
    return library


def uninstall():
    """Give pynvml back the library it had before ``install``."""
    import pynvml

    with pynvml.libLoadLock:
        if "previous" in _installed:
            pynvml.nvmlLib = _installed.pop("previous")
        pynvml._nvmlGetFunctionPointer_cache.clear()
