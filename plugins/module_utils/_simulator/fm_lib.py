# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A simulated Fabric Manager: a drop-in for ``libnvfm.so`` and for the ``fmpm`` CLI.

``SimulatedFmLibrary(state_path)`` has the libnvfm functions by their C names; they take
the ctypes arguments a C caller passes (``byref(struct)``, handles as ``c_void_p``,
``c_uint`` ids, ``fmPciDevice_t`` arrays) and return ``fmReturn_t`` ints, filling the same
structs, so ``_fabric.LibnvfmBackend`` runs against it unchanged. ``SimulatedFmpm`` runs an
``fmpm`` argument list the way ``fmpm.cpp`` does (same messages, JSON printed like jsoncpp's
StyledWriter, exit status = fmReturn_t modulo 256) on top of the simulated library.
The struct types and constants come from ``_fabric``, which is the collection's binding of
``nv_fm_types.h``, like the NVML simulator uses pynvml's.

State: the ``fabric`` section of the host state file (written by ``host.create_host``):
``{"nvswitch", "fm_running", "mode" (FABRIC_MODE 0/1/2), "restart_pending",
"partitions": [{"id", "physical_ids", "nvlinks_per_gpu", "active", "vfs"}],
"nvlink_line_rate_mbps"}``; hosts without NVSwitch have ``{"nvswitch": false}``.
Partition GPUs are the host GPUs whose ``module_id`` equals the physical id.

Behaviour (reference/fabric-manager-and-cdi.md A3, A5; choices marked INFERRED):

* ``fmConnect`` fails with FM_ST_CONNECTION_NOT_VALID when the host has no NVSwitch or FM
  is stopped; a struct version other than the header's -> FM_ST_VERSION_MISMATCH.
* Partition calls in FABRIC_MODE 0 -> FM_ST_NOT_SUPPORTED (listing too: INFERRED).
* ``fmActivateFabricPartition`` only in mode 1, ``...WithVFs`` only in mode 2, else
  FM_ST_NOT_SUPPORTED (INFERRED from "supported only in Shared NVSwitch mode").
* Unknown id -> FM_ST_BADPARAM; already active, or sharing a GPU with an active partition
  -> FM_ST_IN_USE; deactivating an inactive partition -> FM_ST_UNINITIALIZED.
* With VFs: one VF per GPU of the partition, else FM_ST_BADPARAM (INFERRED); the VFs are
  stored with the activation.
* A multi-GPU partition with a MIG-enabled GPU whose architecture does not allow MIG in
  multi-GPU partitions (Ampere) -> ``MIG_IN_MULTI_GPU_PARTITION_ERROR``. The FMUG says such
  an activation fails on A100 and succeeds on H100 but names no code; FM_ST_NVLINK_ERROR is
  INFERRED (A100 trains the NVLinks of MIG GPUs off).
* On architectures whose physical ids are module ids (Hopper and later) partitions
  report empty uuid / pciBusId, as the FMUG says; on Ampere they carry the GPU's.
* After ``restart_fabric_manager(path, resiliency=True)`` in mode 1/2, FM waits for
  ``fmSetActivatedFabricPartitions``: other partition calls answer
  ``RESTART_PENDING_ERROR`` (FM_ST_NOT_CONFIGURED, INFERRED from "API issued before FM
  completely initialized"). ``fmSetActivatedFabricPartitions`` without a pending restart
  -> FM_ST_NOT_SUPPORTED (INFERRED).
* Mutating calls are counted in ``state["mutating_calls"]`` under their C names.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import json
import subprocess

from .. import _libnvfm as fm
from .._model import format_pci
from .._capabilities import capabilities_for
from . import boards
from .state import locked_state

#: Codes for behaviour the reference leaves open (see the module docstring); data, not logic.
MIG_IN_MULTI_GPU_PARTITION_ERROR = "FM_ST_NVLINK_ERROR"  # INFERRED
RESTART_PENDING_ERROR = "FM_ST_NOT_CONFIGURED"  # INFERRED
SET_ACTIVATED_WITHOUT_RESTART_ERROR = "FM_ST_NOT_SUPPORTED"  # INFERRED

_SUCCESS = fm.FM_ST["FM_ST_SUCCESS"]
_MUTATING = (
    "fmActivateFabricPartition",
    "fmActivateFabricPartitionWithVFs",
    "fmDeactivateFabricPartition",
    "fmSetActivatedFabricPartitions",
)


def _code(name):
    return fm.FM_ST[name]


def _int(argument):
    """An int from a plain int or a ctypes scalar (c_uint, c_void_p)."""
    return argument if isinstance(argument, int) else argument.value


def _struct(reference):
    """The struct behind ``ctypes.byref(struct)`` (or a struct passed directly)."""
    return getattr(reference, "_obj", reference)


def _fabric_of(state):
    return state.get("fabric") or {"nvswitch": False}


def _gpus_by_physical_id(state):
    return dict((gpu["module_id"], gpu) for gpu in state.get("gpus", []))


def _architecture(gpu):
    return boards.BOARDS[gpu["board"]]["architecture"]


class SimulatedFmLibrary(object):
    """libnvfm for the simulated host whose state file is ``state_path``."""

    def __init__(self, state_path):
        self._path = state_path
        self._initialised = False
        self._handles = set()
        self._next_handle = 1

    # -- library and connection ---------------------------------------------------------

    def fmLibInit(self):
        self._initialised = True
        return _SUCCESS

    def fmLibShutdown(self):
        if not self._initialised:
            return _code("FM_ST_UNINITIALIZED")
        self._initialised = False
        self._handles.clear()
        return _SUCCESS

    def fmConnect(self, params_reference, handle_reference):
        if not self._initialised:
            return _code("FM_ST_UNINITIALIZED")
        params = _struct(params_reference)
        if params.version not in (fm.fmConnectParams_version1, fm.fmConnectParams_version2):
            return _code("FM_ST_VERSION_MISMATCH")
        with locked_state(self._path, write=False) as state:
            fabric = _fabric_of(state)
        if not (fabric.get("nvswitch") and fabric.get("fm_running", True)):
            return _code("FM_ST_CONNECTION_NOT_VALID")
        handle = self._next_handle
        self._next_handle += 1
        self._handles.add(handle)
        _struct(handle_reference).value = handle
        return _SUCCESS

    def fmDisconnect(self, handle):
        value = _int(handle)
        if value not in self._handles:
            return _code("FM_ST_BADPARAM")
        self._handles.discard(value)
        return _SUCCESS

    def _session_error(self, handle):
        """Error code for a call on ``handle`` before any state is looked at, or None."""
        if not self._initialised:
            return _code("FM_ST_UNINITIALIZED")
        if _int(handle) not in self._handles:
            return _code("FM_ST_BADPARAM")
        return None

    @staticmethod
    def _fabric_error(fabric, restart_allowed=False):
        """Error code from FM's own state (stopped, bare metal, restart pending), or None."""
        if not fabric.get("nvswitch") or not fabric.get("fm_running", True):
            return _code("FM_ST_CONNECTION_NOT_VALID")
        if fabric.get("mode", 0) == fm.BARE_METAL:
            return _code("FM_ST_NOT_SUPPORTED")
        if fabric.get("restart_pending") and not restart_allowed:
            return _code(RESTART_PENDING_ERROR)
        return None

    # -- queries ------------------------------------------------------------------------

    def fmGetSupportedFabricPartitions(self, handle, list_reference):
        error = self._session_error(handle)
        if error is not None:
            return error
        listing = _struct(list_reference)
        if listing.version != fm.fmFabricPartitionList_version:
            return _code("FM_ST_VERSION_MISMATCH")
        with locked_state(self._path, write=False) as state:
            fabric = _fabric_of(state)
            error = self._fabric_error(fabric)
            if error is not None:
                return error
            gpus = _gpus_by_physical_id(state)
            partitions = fabric.get("partitions", [])[: fm.FM_MAX_FABRIC_PARTITIONS]
            listing.numPartitions = len(partitions)
            listing.maxNumPartitions = len(partitions)
            for info, partition in zip(listing.partitionInfo, partitions):
                self._fill_partition(info, partition, gpus, fabric.get("nvlink_line_rate_mbps", 0))
        return _SUCCESS

    @staticmethod
    def _fill_partition(info, partition, gpus, line_rate):
        info.partitionId = partition["id"]
        info.isActive = 1 if partition.get("active") else 0
        physical = partition["physical_ids"][: fm.FM_MAX_NUM_GPUS]
        info.numGpus = len(physical)
        for gpu_info, physical_id in zip(info.gpuInfo, physical):
            gpu_info.physicalId = physical_id
            gpu = gpus.get(physical_id)
            if gpu is not None and not capabilities_for(_architecture(gpu)).fabric_partition_ids_are_module_ids:
                gpu_info.uuid = gpu["uuid"].encode("ascii")
                gpu_info.pciBusId = gpu["pci_bus_id"].encode("ascii")
            gpu_info.numNvLinksAvailable = partition.get("nvlinks_per_gpu", 0)
            gpu_info.maxNumNvLinks = partition.get("nvlinks_per_gpu", 0)
            gpu_info.nvlinkLineRateMBps = line_rate

    def fmGetNvlinkFailedDevices(self, handle, devices_reference):
        """Always an empty list, as on DGX H100 and later (no link failures simulated)."""
        error = self._session_error(handle)
        if error is not None:
            return error
        devices = _struct(devices_reference)
        devices.numGpus = 0
        devices.numSwitches = 0
        return _SUCCESS

    def fmGetUnsupportedFabricPartitions(self, handle, list_reference):
        """Always an empty list (no degraded partitions simulated)."""
        error = self._session_error(handle)
        if error is not None:
            return error
        _struct(list_reference).numPartitions = 0
        return _SUCCESS

    # -- changes ------------------------------------------------------------------------

    def _mutate(self, function, handle, change):
        """Run ``change(state, fabric)`` -> code under the exclusive lock, counted."""
        error = self._session_error(handle)
        if error is not None:
            return error
        with locked_state(self._path) as state:
            counts = state.setdefault("mutating_calls", {})
            counts[function] = counts.get(function, 0) + 1
            return change(state, _fabric_of(state))

    @staticmethod
    def _partition(fabric, partition_id):
        for partition in fabric.get("partitions", []):
            if partition["id"] == partition_id:
                return partition
        return None

    def _activate(self, state, fabric, partition_id, mode_needed, vfs):
        error = self._fabric_error(fabric)
        if error is not None:
            return error
        partition = self._partition(fabric, partition_id)
        if partition is None:
            return _code("FM_ST_BADPARAM")
        if fabric.get("mode") != mode_needed:
            return _code("FM_ST_NOT_SUPPORTED")
        if vfs is not None and len(vfs) != len(partition["physical_ids"]):
            return _code("FM_ST_BADPARAM")
        wanted = set(partition["physical_ids"])
        for other in fabric.get("partitions", []):
            if other.get("active") and (other is partition or wanted & set(other["physical_ids"])):
                return _code("FM_ST_IN_USE")
        if len(wanted) > 1:
            gpus = _gpus_by_physical_id(state)
            for physical_id in wanted:
                gpu = gpus.get(physical_id)
                if (
                    gpu is not None
                    and gpu.get("mig", {}).get("current")
                    and not capabilities_for(_architecture(gpu)).mig_allowed_in_multi_gpu_partitions
                ):
                    return _code(MIG_IN_MULTI_GPU_PARTITION_ERROR)
        partition["active"] = True
        partition["vfs"] = list(vfs or [])
        return _SUCCESS

    def fmActivateFabricPartition(self, handle, partition_id):
        partition_id = _int(partition_id)
        return self._mutate(
            "fmActivateFabricPartition",
            handle,
            lambda state, fabric: self._activate(state, fabric, partition_id, fm.SHARED_NVSWITCH, None),
        )

    def fmActivateFabricPartitionWithVFs(self, handle, partition_id, vf_list, num_vfs):
        partition_id = _int(partition_id)
        count = _int(num_vfs)
        if count and vf_list is None:
            return _code("FM_ST_BADPARAM")
        vfs = [format_pci((vf.domain, vf.bus, vf.device, vf.function)) for vf in vf_list[:count]] if count else []
        return self._mutate(
            "fmActivateFabricPartitionWithVFs",
            handle,
            lambda state, fabric: self._activate(state, fabric, partition_id, fm.VGPU, vfs),
        )

    def fmDeactivateFabricPartition(self, handle, partition_id):
        partition_id = _int(partition_id)

        def deactivate(state, fabric):
            error = self._fabric_error(fabric)
            if error is not None:
                return error
            partition = self._partition(fabric, partition_id)
            if partition is None:
                return _code("FM_ST_BADPARAM")
            if not partition.get("active"):
                return _code("FM_ST_UNINITIALIZED")
            partition["active"] = False
            partition["vfs"] = []
            return _SUCCESS

        return self._mutate("fmDeactivateFabricPartition", handle, deactivate)

    def fmSetActivatedFabricPartitions(self, handle, list_reference):
        listing = _struct(list_reference)

        def set_activated(state, fabric):
            error = self._fabric_error(fabric, restart_allowed=True)
            if error is not None:
                return error
            if listing.version != fm.fmActivatedFabricPartitionList_version:
                return _code("FM_ST_VERSION_MISMATCH")
            if not fabric.get("restart_pending"):
                return _code(SET_ACTIVATED_WITHOUT_RESTART_ERROR)
            if listing.numPartitions > fm.FM_MAX_FABRIC_PARTITIONS:
                return _code("FM_ST_BADPARAM")
            declared = [listing.partitionIds[i] for i in range(listing.numPartitions)]
            chosen = [self._partition(fabric, partition_id) for partition_id in declared]
            if any(partition is None for partition in chosen):
                return _code("FM_ST_BADPARAM")
            used = set()
            for partition in chosen:
                if used & set(partition["physical_ids"]):
                    return _code("FM_ST_IN_USE")
                used.update(partition["physical_ids"])
            for partition in fabric.get("partitions", []):
                partition["active"] = partition["id"] in declared
                if not partition["active"]:
                    partition["vfs"] = []
            fabric["restart_pending"] = False
            return _SUCCESS

        return self._mutate("fmSetActivatedFabricPartitions", handle, set_activated)


# -- host-side controls (what systemctl / the FM service would do) --------------------------


def fabricmanager_cfg(state_path):
    """The fabricmanager.cfg the simulated FM runs with, or None without NVSwitch."""
    with locked_state(state_path, write=False) as state:
        fabric = _fabric_of(state)
    if not fabric.get("nvswitch"):
        return None
    return (
        "# fabricmanager.cfg of a gpuops.mig simulated host\n"
        "FABRIC_MODE=%d\n"
        "FABRIC_MODE_RESTART=%d\n"
        "FM_CMD_BIND_INTERFACE=127.0.0.1 \n"
        "FM_CMD_PORT_NUMBER=%d\n"
        "FM_CMD_UNIX_SOCKET_PATH=\n"
        % (fabric.get("mode", 0), 1 if fabric.get("restart_pending") else 0, fm.FM_CMD_PORT_NUMBER)
    )


def restart_fabric_manager(state_path, resiliency=True):
    """Restart the simulated FM. With ``resiliency`` (``--restart``) in mode 1/2 it keeps
    the partitions' hardware state and waits for fmSetActivatedFabricPartitions; otherwise
    it starts fresh with every partition inactive."""
    with locked_state(state_path) as state:
        fabric = _fabric_of(state)
        if not fabric.get("nvswitch"):
            raise ValueError("simulated host %s has no NVSwitch, hence no Fabric Manager" % state_path)
        fabric["fm_running"] = True
        fabric["restart_pending"] = bool(resiliency and fabric.get("mode", 0) != fm.BARE_METAL)
        if not fabric["restart_pending"]:
            for partition in fabric.get("partitions", []):
                partition["active"] = False
                partition["vfs"] = []


def fabric_manager_running(state_path):
    """Whether the simulated nvidia-fabricmanager service runs."""
    with locked_state(state_path, write=False) as state:
        return bool(_fabric_of(state).get("fm_running", True))


def set_fabric_manager_running(state_path, running):
    """Start or stop the simulated nvidia-fabricmanager service."""
    with locked_state(state_path) as state:
        fabric = _fabric_of(state)
        if not fabric.get("nvswitch"):
            raise ValueError("simulated host %s has no NVSwitch, hence no Fabric Manager" % state_path)
        fabric["fm_running"] = bool(running)


# -- fmpm -------------------------------------------------------------------------------------


def styled_json(value):
    """``Json::StyledWriter().write(value)`` of jsoncpp: 3-space indent, " : ", object keys
    in byte order, short scalar arrays on one line (right margin 74), trailing newline."""
    writer = _StyledWriter()
    writer.write_value(value)
    return writer.document + "\n"


class _StyledWriter(object):
    RIGHT_MARGIN = 74
    INDENT = "   "

    def __init__(self):
        self.document = ""
        self.indent_string = ""
        self.child_values = []
        self.add_child_values = False

    def push_value(self, text):
        if self.add_child_values:
            self.child_values.append(text)
        else:
            self.document += text

    def write_indent(self):
        if self.document:
            last = self.document[-1]
            if last == " ":
                return
            if last != "\n":
                self.document += "\n"
        self.document += self.indent_string

    def write_with_indent(self, text):
        self.write_indent()
        self.document += text

    def write_value(self, value):
        if isinstance(value, dict):
            if not value:
                self.push_value("{}")
                return
            self.write_with_indent("{")
            self.indent_string += self.INDENT
            names = sorted(value)
            for position, name in enumerate(names):
                self.write_with_indent(json.dumps(name))
                self.document += " : "
                self.write_value(value[name])
                if position + 1 < len(names):
                    self.document += ","
            self.indent_string = self.indent_string[: -len(self.INDENT)]
            self.write_with_indent("}")
        elif isinstance(value, list):
            self.write_array(value)
        elif isinstance(value, bool):
            self.push_value("true" if value else "false")
        elif value is None:
            self.push_value("null")
        elif isinstance(value, int):
            self.push_value(str(value))
        else:
            self.push_value(json.dumps(value, ensure_ascii=False))

    def is_multiline_array(self, value):
        multiline = len(value) * 3 >= self.RIGHT_MARGIN
        self.child_values = []
        for child in value:
            if multiline:
                break
            multiline = isinstance(child, (list, dict)) and bool(child)
        if not multiline:
            self.add_child_values = True
            line_length = 4 + (len(value) - 1) * 2
            for child in value:
                self.write_value(child)
            self.add_child_values = False
            line_length += sum(len(text) for text in self.child_values)
            multiline = line_length >= self.RIGHT_MARGIN
        return multiline

    def write_array(self, value):
        if not value:
            self.push_value("[]")
            return
        if self.is_multiline_array(value):
            self.write_with_indent("[")
            self.indent_string += self.INDENT
            rendered = list(self.child_values)
            for position, child in enumerate(value):
                if rendered:
                    self.write_with_indent(rendered[position])
                else:
                    self.write_indent()
                    self.write_value(child)
                if position + 1 < len(value):
                    self.document += ","
            self.indent_string = self.indent_string[: -len(self.INDENT)]
            self.write_with_indent("]")
        else:
            self.document += "[ " + ", ".join(self.child_values) + " ]"


class SimulatedFmpm(object):
    """``fmpm`` as a runner for ``_fabric.FmpmBackend``: ``runner(argv)`` ->
    CompletedProcess with fmpm's stdout and exit status (fmReturn_t modulo 256).

    Follows fmpm.cpp after commit 944a949 (the activated list is sent). A duplicate id in
    ``--set-activated-list`` hangs the real fmpm; here it fails with exit status 1.
    """

    def __init__(self, state_path):
        self._path = state_path

    def __call__(self, argv):
        lines = []
        code = self._main(list(argv[1:]), lines)
        return subprocess.CompletedProcess(list(argv), code % 256, "".join(lines), "")

    def _main(self, arguments, out):
        operation, partition_id, listed, hostname, socket_path = None, 0, [], "127.0.0.1", ""
        while arguments:
            argument = arguments.pop(0)
            if argument == "-l":
                operation = "list"
            elif argument in ("-a", "-d"):
                operation = "activate" if argument == "-a" else "deactivate"
                if not arguments:
                    return 1
                partition_id = int(arguments.pop(0))
                if operation == "activate" and partition_id >= fm.FM_MAX_FABRIC_PARTITIONS:
                    out.append("Invalid Partition ID.\n")
                    return _code("FM_ST_BADPARAM")
            elif argument == "--set-activated-list":
                operation = "set"
                if not arguments:
                    return 1
                for token in [token for token in arguments.pop(0).split(",") if token]:
                    value = int(token)
                    if value < 0 or value >= fm.FM_MAX_FABRIC_PARTITIONS:
                        out.append("Invalid partition Id %d was given.\n" % value)
                        return _code("FM_ST_BADPARAM")
                    if value in listed:
                        return 1
                    listed.append(value)
            elif argument in ("--hostname", "--unix-domain-socket"):
                if not arguments:
                    return 1
                if argument == "--hostname":
                    hostname = arguments.pop(0)
                else:
                    socket_path = arguments.pop(0)
            else:
                return _code("FM_ST_BADPARAM")
        library = SimulatedFmLibrary(self._path)
        if library.fmLibInit() != _SUCCESS:
            out.append("Failed to initialize Fabric Manager API interface library.\n")
            return _code("FM_ST_UNINITIALIZED")
        handle = fm.fmHandle_t()
        code = library.fmConnect(ctypes.byref(fm.connect_params(hostname, socket_path or None)), ctypes.byref(handle))
        if code != _SUCCESS:
            out.append("Failed to connect to Fabric Manager instance.\n")
            return code
        try:
            return self._operate(library, handle, operation, partition_id, listed, out)
        finally:
            library.fmDisconnect(handle)
            library.fmLibShutdown()

    @staticmethod
    def _operate(library, handle, operation, partition_id, listed, out):
        if operation == "list":
            listing = fm.fmFabricPartitionList_v2()
            listing.version = fm.fmFabricPartitionList_version
            code = library.fmGetSupportedFabricPartitions(handle, ctypes.byref(listing))
            if code != _SUCCESS:
                out.append("Failed to get partition list. fmReturn: %d\n" % code)
                return code
            out.append(styled_json(_listing_json(listing)))
            return code
        if operation == "activate":
            code = library.fmActivateFabricPartition(handle, ctypes.c_uint(partition_id))
            if code != _SUCCESS:
                out.append("Failed to activate partition. fmReturn: %d\n" % code)
            return code
        if operation == "deactivate":
            code = library.fmDeactivateFabricPartition(handle, ctypes.c_uint(partition_id))
            if code != _SUCCESS:
                out.append("Failed to deactivate partition. fmReturn: %d\n" % code)
            return code
        if operation == "set":
            activated = fm.fmActivatedFabricPartitionList_v1()
            activated.version = fm.fmActivatedFabricPartitionList_version
            activated.numPartitions = len(listed)
            for position, value in enumerate(listed):
                activated.partitionIds[position] = value
            code = library.fmSetActivatedFabricPartitions(handle, ctypes.byref(activated))
            if code != _SUCCESS:
                out.append("Failed to set activated partitions. fmReturn: %d\n" % code)
            return code
        return _SUCCESS


def _listing_json(listing):
    """The JSON value fmpm's listPartitions builds from an fmFabricPartitionList_t."""
    partitions = []
    for info in listing.partitionInfo[: listing.numPartitions]:
        gpus = [
            {
                "physicalId": gpu.physicalId,
                "uuid": gpu.uuid.decode("utf-8", "replace"),
                "pciBusId": gpu.pciBusId.decode("utf-8", "replace"),
                "numNvLinksAvailable": gpu.numNvLinksAvailable,
                "maxNumNvLinks": gpu.maxNumNvLinks,
                "nvlinkLineRateMBps": gpu.nvlinkLineRateMBps,
            }
            for gpu in info.gpuInfo[: info.numGpus]
        ]
        partitions.append({"partitionId": info.partitionId, "isActive": info.isActive, "numGpus": info.numGpus, "gpuInfo": gpus})
    return {
        "version": listing.version,
        "numPartitions": listing.numPartitions,
        "maxNumPartitions": listing.maxNumPartitions,
        "partitionInfo": partitions,
    }
