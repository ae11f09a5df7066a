# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one hardware interface of the collection: GPUs through NVML (``pynvml``).

``Hardware(simulator=None)`` talks to the real driver. ``Hardware(simulator=path)`` puts the
simulated library of the host stored at ``path`` beneath ``pynvml`` and talks to that: the
calls, ctypes marshalling and error classes are the same in both cases. A simulator is only
ever used when a path is given; without one this object refuses to run on a simulated
library left behind by someone else.

Everything above this layer sees the ``_model`` namedtuples and ``_errors`` types only:
every ``pynvml.NVMLError`` leaves this file as ``HardwareError(call, NVML_ERROR_*, gpu)``.

Known limitation (real NVML): compute-instance profiles can only be read through an
existing GPU instance. ``gpu_instance_profiles`` therefore lists the compute profiles of a
GPU-instance profile once a GPU instance of that profile exists (or existed while this
object was open); until then ``compute_profiles`` is empty. ``compute_instance_profiles``
reads them for a given GPU instance. Nothing is cached on disk.

This file and ``_fabric.py`` are the only places that import the simulator; this file
also offers the simulated-host administration the ``simulated_host`` module needs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import ctypes
import functools
import threading
from collections import namedtuple

from ._capabilities import attempt_reset_by_default, virtualization_mode_name
from ._errors import HardwareError, InputError, MigError, NvmlBindingsMissing
from ._host import Host, run_command
from ._nvml_bindings import load_pynvml, missing_problem
from ._model import (
    bus_id_key,
    ComputeInstance,
    ComputeInstanceProfile,
    Engines,
    GpuDevice,
    GpuInstance,
    GpuInstanceProfile,
    MigDevice,
    Placement,
)
from ._profiles import mig_profile_name

#: pynvml, or None with why (missing or too old, and the fix) and the import traceback.
pynvml, PYNVML_PROBLEM, PYNVML_IMPORT_ERROR = load_pynvml()

#: What NVML answers for a profile enum the board does not offer (or beyond the enum range).
UNOFFERED = (pynvml.NVMLError_NotSupported, pynvml.NVMLError_InvalidArgument) if pynvml else ()

#: What NVML answers for a query the GPU or driver does not offer.
UNANSWERED = (pynvml.NVMLError_NotSupported, pynvml.NVMLError_FunctionNotFound) if pynvml else ()

#: NVML_GPU_FABRIC_STATE_* and NVML_GPU_FABRIC_HEALTH_SUMMARY_* by the names gpu_info reports.
FABRIC_STATES = {0: "not_supported", 1: "not_started", 2: "in_progress", 3: "completed"}
FABRIC_HEALTH_SUMMARIES = {0: "not_supported", 1: "healthy", 2: "unhealthy", 3: "limited_capacity"}

MIB = 1024 * 1024

#: ``nvmlProcessInfo_t.gpuInstanceId`` / ``computeInstanceId`` of a process not on MIG.
NOT_ON_MIG = 0xFFFFFFFF

#: A compute process on a GPU, with the MIG instance it runs in (None when not on MIG).
GpuProcess = namedtuple("GpuProcess", ["pid", "gi_id", "ci_id", "used_memory_mb"])

#: Hints added to the messages of errors whose NVML wording does not say what to do.
ERROR_HINTS = {
    "NVML_ERROR_LIBRARY_NOT_FOUND": "libnvidia-ml.so.1 could not be loaded: the NVIDIA driver is not "
    "installed on this host (use the simulator option for a simulated host)",
    "NVML_ERROR_DRIVER_NOT_LOADED": "the NVIDIA kernel driver is not loaded on this host",
    "NVML_ERROR_GPU_IS_LOST": "the GPU has fallen off the bus or stopped responding; it needs a reset "
    "or a reboot (see the kernel log for Xid errors)",
    "NVML_ERROR_NO_PERMISSION": "this operation needs root on the managed host (become: true)",
    "NVML_ERROR_IN_USE": "a process or another client is using the GPU or instance",
    "NVML_ERROR_RESET_REQUIRED": "the GPU needs a reset before the change takes effect",
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": "the NVML library and the loaded kernel driver have different "
    "versions (reboot after a driver upgrade)",
}


def nvml_error_name(code):
    """``NVML_ERROR_*`` name of an NVML return code (``NVML_ERROR_<code>`` if unnamed)."""
    for name in dir(pynvml):
        if name.startswith("NVML_ERROR_") and getattr(pynvml, name) == code:
            return name
    return "NVML_ERROR_%s" % code


def hardware_error(call, error_name, gpu=None, detail=None):
    """HardwareError with the hint for ``error_name`` (and an optional extra detail)."""
    message = "; ".join(part for part in (ERROR_HINTS.get(error_name), detail) if part)
    return HardwareError(call, error_name, gpu, host_message=message or None)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _without_mig_prefix(name):
    name = _text(name)
    return name[4:] if name.startswith("MIG ") else name


def _fabric_entry(info):
    """gpu_info's view of an nvmlGpuFabricInfo struct (v1 has no health fields)."""
    state = FABRIC_STATES.get(info.state, "state%d" % info.state)
    completed = state == "completed"
    uuid = bytes(bytearray(info.clusterUuid)).hex()
    health = getattr(info, "healthSummary", None)
    return {
        "state": state,
        "status": "NVML_SUCCESS" if info.status == 0 else nvml_error_name(info.status),
        "clique_id": info.cliqueId if completed else None,
        "cluster_uuid": "-".join((uuid[:8], uuid[8:12], uuid[12:16], uuid[16:20], uuid[20:])) if completed else None,
        "health_summary": None if health is None else FABRIC_HEALTH_SUMMARIES.get(health, "summary%d" % health),
        "health_mask": getattr(info, "healthMask", None),
    }


def _placements_of(function, owner, profile_id, struct):
    """Possible placements through one of NVML's two-call list functions (count first)."""
    count = ctypes.c_uint(0)
    function(owner, profile_id, None, ctypes.byref(count))
    if not count.value:
        return ()
    array = (struct * count.value)()
    function(owner, profile_id, array, ctypes.byref(count))
    return tuple(Placement(entry.start, entry.size) for entry in array[: count.value])


#: pynvml holds one library per process: the simulated host whose library is installed
#: beneath it and how many open Hardware objects use it.
_simulator_sessions = {"path": None, "count": 0}
_sessions_lock = threading.Lock()


def _ensure_real_library():
    """Make sure the real path loads libnvidia-ml itself: refuse while a simulated host is
    open in this process, and drop any other non-driver library left under pynvml."""
    with _sessions_lock:
        if _simulator_sessions["count"]:
            raise MigError(
                "real NVML cannot be used while the simulated host %s is open in this process" % _simulator_sessions["path"]
            )
        if pynvml.nvmlLib is not None and not isinstance(pynvml.nvmlLib, ctypes.CDLL):
            pynvml.nvmlLib = None
            pynvml._nvmlGetFunctionPointer_cache.clear()


def _enter_simulator(path, library):
    """Install the simulated library of ``path`` beneath pynvml (shared by every open
    Hardware of that host in this process)."""
    with _sessions_lock:
        if _simulator_sessions["count"] and _simulator_sessions["path"] != path:
            raise InputError(
                "simulator", path, "another simulated host (%s) is open in this process" % _simulator_sessions["path"]
            )
        if not _simulator_sessions["count"]:
            library.install(path)
        _simulator_sessions.update(path=path, count=_simulator_sessions["count"] + 1)


def _leave_simulator(library):
    with _sessions_lock:
        _simulator_sessions["count"] -= 1
        if not _simulator_sessions["count"]:
            library.uninstall()


class _ResetGate(object):
    """Lets any number of threads use NVML at once, or one thread reset a GPU alone: a real
    reset shuts NVML down, which would pull the handles from under the other threads."""

    def __init__(self):
        self._condition = threading.Condition()
        self._users = 0
        self._resetting = False

    @contextlib.contextmanager
    def shared(self):
        with self._condition:
            while self._resetting:
                self._condition.wait()
            self._users += 1
        try:
            yield
        finally:
            with self._condition:
                self._users -= 1
                self._condition.notify_all()

    @contextlib.contextmanager
    def exclusive(self):
        with self._condition:
            while self._resetting or self._users:
                self._condition.wait()
            self._resetting = True
        try:
            yield
        finally:
            with self._condition:
                self._resetting = False
                self._condition.notify_all()


def _uses_nvml(method):
    """Run a Hardware method as one NVML user (see _ResetGate)."""

    @functools.wraps(method)
    def gated(self, *args, **kwargs):
        with self._gate.shared():
            return method(self, *args, **kwargs)

    return gated


class Hardware(object):
    """GPUs of one host, real or simulated (see the module docstring)."""

    def __init__(self, simulator=None, host=None):
        if pynvml is None:
            raise NvmlBindingsMissing(PYNVML_PROBLEM or missing_problem(), PYNVML_IMPORT_ERROR)
        self.host = host or Host(simulator)
        self.mutating_calls = 0
        self._lock = threading.RLock()
        self._gate = _ResetGate()
        self._handles = {}
        self._static = {}
        self._gi_profiles = {}
        self._ci_profiles = {}
        #: {(what, index): answer} of the reads kept inside ``kept_reads``; None outside
        self._kept = None
        self._open = False
        if self.simulator:
            # Imported here so that the real path never even loads the simulator.
            from ._simulator import nvml_lib as simulated_nvml_lib

            self._simulated_lib = simulated_nvml_lib
            _enter_simulator(self.simulator, simulated_nvml_lib)
        else:
            _ensure_real_library()
        try:
            self._call(None, pynvml.nvmlInit)
        except HardwareError:
            self._release_library()
            raise
        self._open = True

    @property
    def simulator(self):
        return self.host.simulator

    @property
    def backend(self):
        return self.host.backend

    @property
    def dev_root(self):
        return self.host.dev_root

    @property
    def mig_minors_path(self):
        return self.host.mig_minors_path

    @property
    def driver_root(self):
        return self.host.driver_root

    # -- session -----------------------------------------------------------------------

    def close(self):
        """Shut NVML down (and take the simulated library away again).

        Returns None, or the HardwareError of a failed nvmlShutdown: by then the work of
        the session is done, so the failure must not hide its result (callers warn)."""
        if not self._open:
            return None
        self._open = False
        try:
            self._call(None, pynvml.nvmlShutdown)
        except HardwareError as error:
            return error
        finally:
            self._release_library()
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _release_library(self):
        if self.simulator:
            _leave_simulator(self._simulated_lib)

    def _call(self, gpu, function, *args, call=None, absent=()):
        """Call a pynvml function; NVMLError becomes HardwareError named after ``call`` (default
        the function), except the NVMLError classes in ``absent``, which give None."""
        try:
            return function(*args)
        except absent:
            return None
        except pynvml.NVMLError as error:
            raise hardware_error(call or function.__name__, nvml_error_name(error.value), gpu)

    def _optional(self, gpu, function, *args):
        """``_call`` giving None where the device answers NOT_SUPPORTED."""
        return self._call(gpu, function, *args, absent=(pynvml.NVMLError_NotSupported,))

    def _mutating(self, gpu, function, *args):
        self._count_mutation()
        return self._call(gpu, function, *args)

    def _count_mutation(self):
        with self._lock:
            self.mutating_calls += 1
            if self._kept is not None:
                self._kept.clear()

    @contextlib.contextmanager
    def kept_reads(self):
        """Inside this block each GPU's MIG mode, instance listing, instances, MIG devices,
        processes and learned compute profiles are read from NVML once and answered again from memory until this object changes
        something (a mutating call or a reset forgets them all).

        For one pass that reads the same GPUs several times (plan, check, report) while
        it holds the host lock: a no-change pass on 8 GPUs makes 1,485 NVML calls without
        it. Nothing outside this object is seen, so a block must not span work that changes
        the GPUs another way (stopping GPU clients ends their processes)."""
        with self._lock:
            outermost = self._kept is None
            if outermost:
                self._kept = {}
        try:
            yield
        finally:
            if outermost:
                with self._lock:
                    self._kept = None

    def _kept_read(self, what, index, read):
        """``read()``, or its answer kept from before (see kept_reads). An answer read while
        another thread changed something is not kept."""
        with self._lock:
            kept, mutations = self._kept, self.mutating_calls
            if kept is not None and (what, index) in kept:
                return kept[(what, index)]
        answer = read()
        with self._lock:
            if kept is not None and self._kept is kept and self.mutating_calls == mutations:
                kept[(what, index)] = answer
        return answer

    def _handle(self, index):
        with self._lock:
            if index not in self._handles:
                self._handles[index] = self._call(index, pynvml.nvmlDeviceGetHandleByIndex, index)
            return self._handles[index]

    # -- inventory -----------------------------------------------------------------------

    @_uses_nvml
    def driver_version(self):
        return _text(self._call(None, pynvml.nvmlSystemGetDriverVersion))

    @_uses_nvml
    def device_count(self):
        return self._call(None, pynvml.nvmlDeviceGetCount)

    @_uses_nvml
    def devices(self):
        """Every GPU of the host as GpuDevice, in NVML index order."""
        return [self.device(index) for index in range(self.device_count())]

    @_uses_nvml
    def device(self, index):
        handle = self._handle(index)
        with self._lock:
            static = self._static.get(index)
        if static is None:
            pci = self._call(index, pynvml.nvmlDeviceGetPciInfo, handle)
            memory = self._call(index, pynvml.nvmlDeviceGetMemoryInfo, handle)
            static = dict(
                index=index,
                uuid=_text(self._call(index, pynvml.nvmlDeviceGetUUID, handle)),
                name=_text(self._call(index, pynvml.nvmlDeviceGetName, handle)),
                pci_bus_id=_text(pci.busId),
                pci_device_id=pci.pciDeviceId,
                architecture=self._optional(index, pynvml.nvmlDeviceGetArchitecture, handle),
                module_id=self._optional(index, pynvml.nvmlDeviceGetModuleId, handle),
                minor=self._optional(index, pynvml.nvmlDeviceGetMinorNumber, handle),
                memory_mb=memory.total // MIB,
            )
            with self._lock:
                self._static[index] = static
        modes = self._kept_read("mig_mode", index, lambda: self._optional(index, pynvml.nvmlDeviceGetMigMode, handle))
        current, pending = (None, None) if modes is None else (bool(modes[0]), bool(modes[1]))
        return GpuDevice(mig_current=current, mig_pending=pending, **static)

    @_uses_nvml
    def select(self, gpus=None, device_filter=None):
        """The GPUs named by ``gpus`` (index, UUID or PCI bus id; default all) whose PCI
        device id is in ``device_filter`` (default any), as GpuDevice in index order.

        A ``gpus`` entry that matches no GPU, or a malformed ``device_filter`` entry, raises
        InputError listing what exists. A well-formed filter id absent from this host is not
        an error (fleet-wide filters name boards a host may not have). Only the selected GPUs
        are read in full, so a lost GPU does not stand in the way of the others; an entry
        that matches none of the readable GPUs fails with the lost GPU's error (it may name it).
        """
        allowed = set(_parse_device_id(entry) for entry in device_filter) if device_filter else None
        count = self.device_count()
        indices = set(range(count)) if not gpus else set()
        readable = None
        for entry in gpus or ():
            text = str(entry).strip()
            if text.isdigit() and int(text) < count:
                indices.add(int(text))
                continue
            if readable is None:
                readable, lost = self._readable_devices(count)
            matches = [] if text.isdigit() else [device.index for device in readable if _names_gpu(text, device)]
            if not matches and lost:
                raise lost[0]
            if not matches:
                raise InputError("gpus", entry, "matches no GPU of this host", valid=[_describe(d) for d in readable])
            indices.update(matches)
        chosen = [self.device(index) for index in sorted(indices)]
        return [device for device in chosen if allowed is None or device.pci_device_id in allowed]

    def _readable_devices(self, count):
        """(GpuDevice of every GPU that answers, HardwareError of every lost GPU)."""
        readable, lost = [], []
        for index in range(count):
            try:
                readable.append(self.device(index))
            except HardwareError as error:
                if error.error != "NVML_ERROR_GPU_IS_LOST":
                    raise
                lost.append(error)
        return readable, lost

    @_uses_nvml
    def healthy_devices(self):
        """Every GPU of the host that answers (lost GPUs left out), in NVML index order."""
        return self._readable_devices(self.device_count())[0]

    # -- deployment: what the GPU says about the machine it is in -----------------------

    @_uses_nvml
    def virtualization_mode(self, index):
        """The GPU's virtualization mode by name ("none", "passthrough", "vgpu_guest",
        "vgpu_host", ...: _capabilities.VIRTUALIZATION_MODES); None where NVML does not say."""
        value = self._call(index, pynvml.nvmlDeviceGetVirtualizationMode, self._handle(index), absent=UNANSWERED)
        return None if value is None else virtualization_mode_name(value)

    @_uses_nvml
    def persistence_mode(self, index):
        """Whether persistence mode is enabled; None where NVML does not say."""
        value = self._call(index, pynvml.nvmlDeviceGetPersistenceMode, self._handle(index), absent=UNANSWERED)
        return None if value is None else value == pynvml.NVML_FEATURE_ENABLED

    @_uses_nvml
    def fabric_info(self, index):
        """The GPU's NVLink fabric probe (nvmlDeviceGetGpuFabricInfoV) as a dict: ``state``
        (not_supported: no NVSwitch fabric; not_started, in_progress, completed), ``status``
        (NVML return name of the probe), ``clique_id``, ``cluster_uuid`` (both None until
        completed), ``health_summary`` and ``health_mask``. None where NVML does not say."""
        handle = self._handle(index)
        if hasattr(pynvml, "c_nvmlGpuFabricInfo_v3_t"):
            info = pynvml.c_nvmlGpuFabricInfo_v3_t()
            answered = self._call(index, pynvml.nvmlDeviceGetGpuFabricInfoV, handle, ctypes.byref(info), absent=UNANSWERED)
        elif hasattr(pynvml, "c_nvmlGpuFabricInfo_t"):
            info = pynvml.c_nvmlGpuFabricInfo_t()
            answered = self._call(index, pynvml.nvmlDeviceGetGpuFabricInfo, handle, ctypes.byref(info), absent=UNANSWERED)
        else:
            return None
        return None if answered is None else _fabric_entry(info)

    # -- profiles ------------------------------------------------------------------------

    @_uses_nvml
    def gpu_instance_profiles(self, index):
        """GPU-instance profiles the GPU offers in its current MIG mode (tuple of
        GpuInstanceProfile, in NVML enum order). ``compute_profiles`` is filled where a GPU
        instance of the profile exists or existed (see the module docstring)."""
        device = self.device(index)
        profiles = self._board_profiles(index)
        if device.mig_current:

            def learn():
                for gpu_instance, info in self._listed_gpu_instances(index):
                    self._learn_compute_profiles(index, device.pci_device_id, gpu_instance, info.profileId)

            self._kept_read("compute_profiles_learned", index, learn)
        with self._lock:
            return tuple(
                profile._replace(compute_profiles=self._ci_profiles.get((device.pci_device_id, profile.profile_id), ()))
                for profile in profiles
            )

    def _board_profiles(self, index):
        """GPU-instance profiles without compute profiles, cached per board and MIG mode."""
        device = self.device(index)
        key = (device.pci_device_id, device.mig_current)
        with self._lock:
            profiles = self._gi_profiles.get(key)
        if profiles is None:
            profiles = self._read_gpu_instance_profiles(index)
            with self._lock:
                self._gi_profiles[key] = profiles
        return profiles

    def _read_gpu_instance_profiles(self, index):
        handle = self._handle(index)
        profiles = []
        for enum in range(pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT):
            info = self._call(
                index,
                pynvml.nvmlDeviceGetGpuInstanceProfileInfo,
                handle,
                enum,
                call="nvmlDeviceGetGpuInstanceProfileInfoV",
                absent=UNOFFERED,
            )
            if info is None:
                continue
            placements = self._call(
                index,
                _placements_of,
                pynvml.nvmlDeviceGetGpuInstancePossiblePlacements,
                handle,
                info.id,
                pynvml.c_nvmlGpuInstancePlacement_t,
                call="nvmlDeviceGetGpuInstancePossiblePlacements_v2",
            )
            profiles.append(
                GpuInstanceProfile(
                    profile_id=info.id,
                    enum=enum,
                    name=_without_mig_prefix(info.name),
                    slice_count=info.sliceCount,
                    instance_count=info.instanceCount,
                    memory_mb=info.memorySizeMB,
                    multiprocessor_count=info.multiprocessorCount,
                    engines=Engines(info.copyEngineCount, info.decoderCount, info.encoderCount, info.jpegCount, info.ofaCount),
                    placements=placements,
                    compute_profiles=(),
                )
            )
        return tuple(profiles)

    @_uses_nvml
    def compute_instance_profiles(self, index, gi_id):
        """Compute-instance profiles offered inside GPU instance ``gi_id`` (tuple of
        ComputeInstanceProfile), read through that instance and remembered per board."""
        gpu_instance = self._gpu_instance_handle(index, gi_id)
        info = self._call(index, pynvml.nvmlGpuInstanceGetInfo, gpu_instance)
        return self._learn_compute_profiles(index, self.device(index).pci_device_id, gpu_instance, info.profileId)

    def _learn_compute_profiles(self, index, pci_device_id, gpu_instance, gi_profile_id):
        key = (pci_device_id, gi_profile_id)
        with self._lock:
            known = self._ci_profiles.get(key)
        if known is not None:
            return known
        gi_profile = self._gi_profile_by_id(index, gi_profile_id)
        found = []
        for enum in range(pynvml.NVML_COMPUTE_INSTANCE_PROFILE_COUNT):
            ci_info = self._call(
                index,
                pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo,
                gpu_instance,
                enum,
                pynvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED,
                call="nvmlGpuInstanceGetComputeInstanceProfileInfoV",
                absent=UNOFFERED,
            )
            if ci_info is None:
                continue
            placements = self._call(
                index,
                _placements_of,
                pynvml.nvmlGpuInstanceGetComputeInstancePossiblePlacements,
                gpu_instance,
                ci_info.id,
                pynvml.c_nvmlComputeInstancePlacement_t,
                call="nvmlGpuInstanceGetComputeInstancePossiblePlacements",
                absent=(pynvml.NVMLError_NotSupported,),
            )
            found.append((ci_info, placements or ()))
        profiles = tuple(
            ComputeInstanceProfile(
                profile_id=ci_info.id,
                name=_without_mig_prefix(ci_info.name),
                slice_count=ci_info.sliceCount,
                instance_count=ci_info.instanceCount,
                multiprocessor_count=ci_info.multiprocessorCount,
                placements=placements,
                is_default=ci_info.id == _default_compute_profile_id(gi_profile, [entry[0] for entry in found]),
            )
            for ci_info, placements in found
        )
        with self._lock:
            self._ci_profiles[key] = profiles
        return profiles

    def _gi_profile_by_id(self, index, profile_id):
        for profile in self._board_profiles(index):
            if profile.profile_id == profile_id:
                return profile
        raise hardware_error("nvmlGpuInstanceGetInfo", "NVML_ERROR_NOT_FOUND", index, "GPU instance profile %s" % profile_id)

    @_uses_nvml
    def remaining_capacity(self, index, profile_id):
        """How many more GPU instances of ``profile_id`` fit on the GPU now."""
        return self._call(index, pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity, self._handle(index), profile_id)

    # -- instances -----------------------------------------------------------------------

    def _listed_gpu_instances(self, index):
        """``(handle, nvmlGpuInstanceInfo_t)`` of each GPU instance of the GPU (MIG enabled),
        profile by profile; kept (see kept_reads) for the profiles, instances and MIG devices
        that all start from it."""
        return self._kept_read("listed_gpu_instances", index, lambda: self._list_gpu_instances(index))

    def _list_gpu_instances(self, index):
        handle = self._handle(index)
        instances = []
        for profile in self._board_profiles(index):
            capacity = max(profile.instance_count, len(profile.placements), 1)
            array = (pynvml.c_nvmlGpuInstance_t * capacity)()
            count = ctypes.c_uint(0)
            self._call(index, pynvml.nvmlDeviceGetGpuInstances, handle, profile.profile_id, array, ctypes.byref(count))
            instances.extend((gpu_instance, self._call(index, pynvml.nvmlGpuInstanceGetInfo, gpu_instance)) for gpu_instance in array[: count.value])
        return tuple(instances)

    def _gpu_instance_handle(self, index, gi_id):
        return self._call(index, pynvml.nvmlDeviceGetGpuInstanceById, self._handle(index), gi_id)

    @_uses_nvml
    def gpu_instances(self, index):
        """GPU instances of the GPU with their compute instances, MIG UUIDs and processes,
        ordered by placement start. Empty when MIG is disabled or unsupported."""
        return list(self._kept_read("gpu_instances", index, lambda: self._read_gpu_instances(index)))

    def _read_gpu_instances(self, index):
        device = self.device(index)
        if not device.mig_current:
            return []
        processes = self.processes(index)
        mig_uuids = dict(((device.gi_id, device.ci_id), device.uuid) for device in self.mig_devices(index))
        result = []
        for gpu_instance, info in self._listed_gpu_instances(index):
            slice_count = self._gi_profile_by_id(index, info.profileId).slice_count
            offered = self._learn_compute_profiles(index, device.pci_device_id, gpu_instance, info.profileId)
            ci_profile_ids = [profile.profile_id for profile in offered]
            computes = self._compute_instances(index, gpu_instance, info.id, slice_count, processes, mig_uuids, ci_profile_ids)
            result.append(
                GpuInstance(
                    gi_id=info.id,
                    profile_id=info.profileId,
                    placement=Placement(info.placement.start, info.placement.size),
                    compute_instances=computes,
                    processes=tuple(sorted(process.pid for process in processes if process.gi_id == info.id)),
                )
            )
        return sorted(result, key=lambda instance: (instance.placement.start, instance.gi_id))

    def _compute_instances(self, index, gpu_instance, gi_id, slice_count, processes, mig_uuids, ci_profile_ids):
        found = []
        for profile_id in ci_profile_ids:
            array = (pynvml.c_nvmlComputeInstance_t * max(slice_count, 1))()
            count = ctypes.c_uint(0)
            listed = self._call(
                index, pynvml.nvmlGpuInstanceGetComputeInstances, gpu_instance, profile_id, array, ctypes.byref(count), absent=UNOFFERED
            )
            if listed is None:
                continue
            for compute_instance in array[: count.value]:
                info = self._call(index, pynvml.nvmlComputeInstanceGetInfo, compute_instance)
                found.append(
                    ComputeInstance(
                        ci_id=info.id,
                        profile_id=info.profileId,
                        placement=Placement(info.placement.start, info.placement.size),
                        mig_uuid=mig_uuids.get((gi_id, info.id)),
                        processes=tuple(
                            sorted(process.pid for process in processes if (process.gi_id, process.ci_id) == (gi_id, info.id))
                        ),
                    )
                )
        return tuple(sorted(found, key=lambda instance: (instance.placement.start, instance.ci_id)))

    @_uses_nvml
    def mig_devices(self, index):
        """MIG devices (one per compute instance) in NVML's dense MIG index order."""
        return list(self._kept_read("mig_devices", index, lambda: self._read_mig_devices(index)))

    def _read_mig_devices(self, index):
        handle = self._handle(index)
        if not self.device(index).mig_current:
            return []
        profiles = dict((profile.profile_id, profile) for profile in self._board_profiles(index))
        listed = dict((info.id, (gpu_instance, info)) for gpu_instance, info in self._listed_gpu_instances(index))
        devices = []
        for mig_index in range(self._call(index, pynvml.nvmlDeviceGetMaxMigDeviceCount, handle)):
            # Dense indices: NOT_FOUND past the last MIG device.
            mig_handle = self._call(
                index, pynvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, mig_index, absent=(pynvml.NVMLError_NotFound,)
            )
            if mig_handle is None:
                break
            gi_id = self._call(index, pynvml.nvmlDeviceGetGpuInstanceId, mig_handle)
            ci_id = self._call(index, pynvml.nvmlDeviceGetComputeInstanceId, mig_handle)
            if gi_id in listed:
                gpu_instance, gi_info = listed[gi_id]
            else:  # created since the listing (by someone else): as NVML answers for the id
                gpu_instance = self._gpu_instance_handle(index, gi_id)
                gi_info = self._call(index, pynvml.nvmlGpuInstanceGetInfo, gpu_instance)
            compute_instance = self._call(index, pynvml.nvmlGpuInstanceGetComputeInstanceById, gpu_instance, ci_id)
            ci_info = self._call(index, pynvml.nvmlComputeInstanceGetInfo, compute_instance)
            gi_profile = profiles[gi_info.profileId]
            devices.append(
                MigDevice(
                    gpu_index=index,
                    mig_index=mig_index,
                    uuid=_text(self._call(index, pynvml.nvmlDeviceGetUUID, mig_handle)),
                    gi_id=gi_id,
                    ci_id=ci_id,
                    profile_name=mig_profile_name(gi_profile, ci_info.placement.size),
                    memory_mb=self._call(index, pynvml.nvmlDeviceGetMemoryInfo, mig_handle).total // MIB,
                )
            )
        return devices

    @_uses_nvml
    def processes(self, index):
        """Compute processes on the GPU (list of GpuProcess)."""
        return list(self._kept_read("processes", index, lambda: self._read_processes(index)))

    def _read_processes(self, index):
        running = self._call(index, pynvml.nvmlDeviceGetComputeRunningProcesses, self._handle(index))
        return [
            GpuProcess(
                pid=process.pid,
                gi_id=None if process.gpuInstanceId == NOT_ON_MIG else process.gpuInstanceId,
                ci_id=None if process.computeInstanceId == NOT_ON_MIG else process.computeInstanceId,
                used_memory_mb=None if process.usedGpuMemory is None else process.usedGpuMemory // MIB,
            )
            for process in running
        ]

    # -- changes -------------------------------------------------------------------------

    @_uses_nvml
    def set_mig_mode(self, index, enabled):
        """Request MIG mode on/off. Returns None when NVML activated the request, else the
        activation status name (e.g. NVML_ERROR_IN_USE: pending until the GPU is reset)."""
        mode = pynvml.NVML_DEVICE_MIG_ENABLE if enabled else pynvml.NVML_DEVICE_MIG_DISABLE
        status = self._mutating(index, pynvml.nvmlDeviceSetMigMode, self._handle(index), mode)
        return None if status == pynvml.NVML_SUCCESS else nvml_error_name(status)

    @_uses_nvml
    def create_gpu_instance(self, index, profile_id, placement=None):
        """Create a GPU instance (at ``placement``, a Placement, or where NVML chooses)."""
        handle = self._handle(index)
        if placement is None:
            gpu_instance = self._mutating(index, pynvml.nvmlDeviceCreateGpuInstance, handle, profile_id)
        else:
            where = pynvml.c_nvmlGpuInstancePlacement_t(placement.start, placement.size)
            gpu_instance = self._mutating(
                index, pynvml.nvmlDeviceCreateGpuInstanceWithPlacement, handle, profile_id, ctypes.byref(where)
            )
        info = self._call(index, pynvml.nvmlGpuInstanceGetInfo, gpu_instance)
        return GpuInstance(info.id, info.profileId, Placement(info.placement.start, info.placement.size), (), ())

    @_uses_nvml
    def destroy_gpu_instance(self, index, gi_id):
        self._mutating(index, pynvml.nvmlGpuInstanceDestroy, self._gpu_instance_handle(index, gi_id))

    @_uses_nvml
    def create_compute_instance(self, index, gi_id, ci_profile_id, placement=None):
        """Create a compute instance inside GPU instance ``gi_id``; returns ComputeInstance
        with the UUID of the MIG device it forms."""
        gpu_instance = self._gpu_instance_handle(index, gi_id)
        if placement is None:
            compute_instance = self._mutating(index, pynvml.nvmlGpuInstanceCreateComputeInstance, gpu_instance, ci_profile_id)
        else:
            where = pynvml.c_nvmlComputeInstancePlacement_t(placement.start, placement.size)
            compute_instance = self._mutating(
                index, pynvml.nvmlGpuInstanceCreateComputeInstanceWithPlacement, gpu_instance, ci_profile_id, ctypes.byref(where)
            )
        info = self._call(index, pynvml.nvmlComputeInstanceGetInfo, compute_instance)
        uuid = next((device.uuid for device in self.mig_devices(index) if (device.gi_id, device.ci_id) == (gi_id, info.id)), None)
        return ComputeInstance(info.id, info.profileId, Placement(info.placement.start, info.placement.size), uuid, ())

    @_uses_nvml
    def destroy_compute_instance(self, index, gi_id, ci_id):
        gpu_instance = self._gpu_instance_handle(index, gi_id)
        compute_instance = self._call(index, pynvml.nvmlGpuInstanceGetComputeInstanceById, gpu_instance, ci_id)
        self._mutating(index, pynvml.nvmlComputeInstanceDestroy, compute_instance)

    def reset_gpu(self, index):
        """Reset the GPU (``nvidia-smi --gpu-reset``; counted as a mutating call).

        NVML is shut down around a real reset so that this process holds no handle on the
        GPU; other threads' calls on this object wait for the reset to finish."""
        with self._gate.exclusive():
            self._count_mutation()
            if self.simulator:
                from ._simulator import host as simulated_host

                try:
                    simulated_host.reset_gpu(self.simulator, index)
                except simulated_host.SimulatedHostError as error:
                    raise hardware_error("nvidia-smi --gpu-reset", error.nvml_error, index, str(error))
                return
            self._call(None, pynvml.nvmlShutdown)
            with self._lock:
                self._handles.clear()
            try:
                completed = run_command(["nvidia-smi", "--gpu-reset", "-i", str(index)], index)
            finally:
                self._call(None, pynvml.nvmlInit)
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr).strip()
            raise hardware_error("nvidia-smi --gpu-reset", nvidia_smi_error_name(completed.returncode), index, output)

    @_uses_nvml
    def reset_possible(self, index):
        """Whether this host can reset the GPU: not from inside a VM the GPU is passed through
        to (there the hypervisor refuses and a reboot applies a MIG mode change; the GPU says
        so through its virtualization mode). A read, so check mode predicts what a real run
        meets; a simulated host answers with its ``reset_supported``."""
        if self.simulator:
            from ._simulator import host as simulated_host

            return bool(simulated_host.describe_host(self.simulator)["reset_supported"])
        return attempt_reset_by_default(self.virtualization_mode(index))


def _names_gpu(text, device):
    """Whether a ``gpus`` entry given by UUID or PCI bus id names ``device``."""
    if text.lower().startswith("gpu-"):
        return text.lower() == device.uuid.lower()
    return bus_id_key(text) is not None and bus_id_key(text) == bus_id_key(device.pci_bus_id)


def _describe(device):
    return "%d (%s, %s)" % (device.index, device.uuid, device.pci_bus_id)


def _parse_device_id(entry):
    """0x233010DE (mig-parted's device_filter form) -> int."""
    text = str(entry).strip()
    try:
        if not text.lower().startswith("0x") or len(text) != 10:
            raise ValueError(text)
        return int(text, 16)
    except ValueError:
        raise InputError(
            "device_filter", entry, "not a PCI device id written as 0x<device><vendor>", valid=["0x233010DE", "0x20B010DE"]
        )


def _default_compute_profile_id(gi_profile, ci_infos):
    """The compute-instance profile ``nvidia-smi mig -cgi ... -C`` would create.

    NVML does not flag it. Inferred rule: the profile spanning the whole GPU instance
    (slice count equal to the GI's); where several do (H100 1g.20gb offers 1_SLICE_REV1),
    the one with the most multiprocessors, then the lowest id.
    """
    full = [info for info in ci_infos if info.sliceCount == gi_profile.slice_count]
    if not full:
        return None
    return sorted(full, key=lambda info: (-info.multiprocessorCount, info.id))[0].id


def nvidia_smi_error_name(exit_status):
    """NVML error name of an nvidia-smi exit status (nvidia-smi(1) "RETURN VALUE" uses the
    NVML return codes, and 255 for any other error)."""
    return "NVML_ERROR_UNKNOWN" if exit_status == 255 else nvml_error_name(exit_status)
