# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fabric Manager: NVSwitch partitions through libnvfm (ctypes) or the ``fmpm`` CLI.

Layers, bottom up:

* the libnvfm binding (``_libnvfm``: ctypes definitions of ``nv_fm_types.h``), shared
  with the simulated libnvfm.
* Backends with one interface (``name``, ``partitions()``, ``activate(id, vfs)``,
  ``deactivate(id)``, ``set_activated(ids)``, ``close()``):
  ``LibnvfmBackend(lib)`` calls a libnvfm-like object (the real ``libnvfm.so.1`` or the
  simulator's ``fm_lib.SimulatedFmLibrary``, which takes the same ctypes arguments, so the
  same code runs against both); ``FmpmBackend(runner)`` runs ``fmpm`` argument lists
  through an injectable runner and reads its stdout (its exit status is a wrapped
  negative ``fmReturn_t`` and says less than the text).
* ``FabricManager``: a backend plus the Fabric Manager configuration (``FABRIC_MODE``).
* Decisions as plain functions on ``Partition`` tuples: which partition ``gpus`` names,
  overlap with active partitions, the ``exclusive`` plan, the MIG refusal by capability.
* ``ensure_partition(session)``: what the ``fabric_partition`` module does;
  ``fabric_inventory(...)``: the fabric section of ``gpu_info``.

Every FM failure leaves this file as ``HardwareError(call, "FM_ST_*")`` with a hint.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import json
import os
import re
import shutil
from collections import namedtuple

from ._capabilities import capabilities_for
from ._errors import HardwareError, InputError, MigError
from ._host import run_command
from ._libnvfm import (
    BARE_METAL,
    FABRIC_MODES,
    FM_CMD_PORT_NUMBER,
    FM_MAX_FABRIC_PARTITIONS,
    FM_MAX_NUM_GPUS,
    FM_RETURN_NAMES,
    FM_ST,
    SHARED_NVSWITCH,
    VGPU,
    connect_params,
    fmActivatedFabricPartitionList_v1,
    fmActivatedFabricPartitionList_version,
    fmFabricPartitionList_v2,
    fmFabricPartitionList_version,
    fmHandle_t,
    fmPciDevice_t,
)
from ._model import bus_id_key, format_pci

#: Library names tried by fm_backend=auto/libnvfm (the -dev package ships libnvfm.so).
LIBNVFM_NAMES = ("libnvfm.so.1", "libnvfm.so")

FM_CONFIG_PATH = "/usr/share/nvidia/nvswitch/fabricmanager.cfg"

FM_BACKENDS = ("auto", "libnvfm", "fmpm")

#: What to do about an FM error whose name alone does not say it (FMUG "Partition Life
#: Cycle Errors" and the API descriptions).
FM_ERROR_HINTS = {
    "FM_ST_BADPARAM": "use a partition id that Fabric Manager lists (state=listed shows them)",
    "FM_ST_NOT_SUPPORTED": "Fabric Manager was not started with the configuration this call needs: partitions "
    "need FABRIC_MODE=1 (shared NVSwitch, activation without VFs) or 2 (vGPU, activation with VFs) in "
    "fabricmanager.cfg and a restart of nvidia-fabricmanager",
    "FM_ST_UNINITIALIZED": "the Fabric Manager library is not initialised, or the partition is not active",
    "FM_ST_IN_USE": "the partition is already active or shares GPUs with an active partition",
    "FM_ST_NOT_CONFIGURED": "Fabric Manager has not finished initialising; after a restart in resiliency mode "
    "(FABRIC_MODE_RESTART=1) it waits for the list of activated partitions (state=restored)",
    "FM_ST_CONNECTION_NOT_VALID": "no connection to Fabric Manager: check that nvidia-fabricmanager runs and that "
    "fm_address / fm_unix_socket match FM_CMD_BIND_INTERFACE, FM_CMD_PORT_NUMBER or FM_CMD_UNIX_SOCKET_PATH",
    "FM_ST_VERSION_MISMATCH": "libnvfm and the running Fabric Manager come from different package versions",
    "FM_ST_NVLINK_ERROR": "NVLink training failed (on Ampere, GPUs with MIG enabled have their NVLinks trained "
    "off)",
    "FM_ST_TIMEOUT": "GPU or NVSwitch configuration timed out",
}

PartitionGpu = namedtuple(
    "PartitionGpu",
    [
        "physical_id",  # FM GPU physical id (= NVML module id on Hopper and later)
        "uuid",  # "" where FM does not report it (Hopper and later)
        "pci_bus_id",  # "" where FM does not report it
        "nvlinks_available",
        "max_nvlinks",
        "line_rate_mbps",  # per-NVLink line rate, MB/s
    ],
)
Partition = namedtuple("Partition", ["partition_id", "active", "gpus"])

#: What fabricmanager.cfg says (None fields: the key is absent).
FabricConfig = namedtuple("FabricConfig", ["mode", "restart", "unix_socket", "address"])


def fm_return_name(code):
    return FM_RETURN_NAMES.get(code, "FM_ST_%d" % code)


def fm_error(call, error_name, detail=None):
    """HardwareError for an FM failure, with the hint for ``error_name``."""
    message = "; ".join(part for part in (FM_ERROR_HINTS.get(error_name), detail) if part)
    return HardwareError(call, error_name, host_message=message or None)


class FabricPartitionError(MigError):
    """A partition request that Fabric Manager would refuse or that would hurt running
    work (overlap, MIG, fabric mode), found before anything changed; or a failure in the
    middle of a plan, with the steps already done."""

    def __init__(self, message, partition_id=None, blocking=None, gpus=None, completed=None):
        self.partition_id = partition_id
        self.blocking = list(blocking or [])
        self.gpus = list(gpus or [])
        self.completed = list(completed or [])
        super(FabricPartitionError, self).__init__(message)

    def details(self):
        """Also ``changed``: a failure after completed steps has changed the fabric."""
        return {
            "partition_id": self.partition_id,
            "blocking": self.blocking,
            "gpus": self.gpus,
            "completed": self.completed,
            "changed": bool(self.completed),
        }


# -- fabricmanager.cfg -------------------------------------------------------------------

_CFG_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*=(.*)$")


def parse_fabricmanager_cfg(text):
    """FabricConfig of a fabricmanager.cfg text (the shipped file has trailing blanks)."""
    values = {}
    for line in (text or "").splitlines():
        match = _CFG_LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2).strip()

    def integer(key):
        try:
            return int(values[key])
        except (KeyError, ValueError):
            return None

    restart = integer("FABRIC_MODE_RESTART")
    address = None
    if values.get("FM_CMD_BIND_INTERFACE") or values.get("FM_CMD_PORT_NUMBER"):
        address = "%s:%s" % (values.get("FM_CMD_BIND_INTERFACE") or "127.0.0.1", values.get("FM_CMD_PORT_NUMBER") or 6666)
    return FabricConfig(
        mode=integer("FABRIC_MODE"),
        restart=None if restart is None else restart == 1,
        unix_socket=values.get("FM_CMD_UNIX_SOCKET_PATH") or None,
        address=address,
    )


# -- libnvfm through ctypes ---------------------------------------------------------------


def _text(raw):
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _partition_from_struct(info):
    gpus = tuple(
        PartitionGpu(
            physical_id=gpu.physicalId,
            uuid=_text(gpu.uuid),
            pci_bus_id=_text(gpu.pciBusId),
            nvlinks_available=gpu.numNvLinksAvailable,
            max_nvlinks=gpu.maxNumNvLinks,
            line_rate_mbps=gpu.nvlinkLineRateMBps,
        )
        for gpu in info.gpuInfo[: min(info.numGpus, FM_MAX_NUM_GPUS)]
    )
    return Partition(partition_id=info.partitionId, active=bool(info.isActive), gpus=gpus)


class LibnvfmBackend(object):
    """Fabric Manager through a libnvfm-like object (ctypes CDLL or the simulated library).

    Connects on first use: ``fmLibInit``, then ``fmConnect`` with the v2 connect params,
    falling back to v1 when the library answers FM_ST_VERSION_MISMATCH (pre-v2 headers).
    """

    def __init__(self, lib, address=None, unix_socket=None, name="libnvfm"):
        self.name = name
        self._lib = lib
        self._address = address
        self._unix_socket = unix_socket
        self._handle = None
        self._initialised = False

    def _call(self, function, *args):
        code = getattr(self._lib, function)(*args)
        if code != 0:
            raise fm_error(function, fm_return_name(code))

    def _connection(self):
        if self._handle is not None:
            return self._handle
        if not self._initialised:
            self._call("fmLibInit")
            self._initialised = True
        handle = fmHandle_t()
        code = FM_ST["FM_ST_VERSION_MISMATCH"]
        for version in (2, 1):
            params = connect_params(self._address, self._unix_socket, version)
            code = self._lib.fmConnect(ctypes.byref(params), ctypes.byref(handle))
            if code != FM_ST["FM_ST_VERSION_MISMATCH"]:
                break
        if code != 0:
            where = self._unix_socket or self._address or "127.0.0.1:%d" % FM_CMD_PORT_NUMBER
            raise fm_error("fmConnect", fm_return_name(code), "address %s" % where)
        self._handle = handle
        return handle

    def partitions(self):
        listing = fmFabricPartitionList_v2()
        listing.version = fmFabricPartitionList_version
        self._call("fmGetSupportedFabricPartitions", self._connection(), ctypes.byref(listing))
        count = min(listing.numPartitions, FM_MAX_FABRIC_PARTITIONS)
        return tuple(_partition_from_struct(info) for info in listing.partitionInfo[:count])

    def activate(self, partition_id, vfs=None):
        handle = self._connection()
        if vfs is None:
            self._call("fmActivateFabricPartition", handle, ctypes.c_uint(partition_id))
            return
        vf_array = (fmPciDevice_t * len(vfs))(*[fmPciDevice_t(*vf) for vf in vfs])
        self._call(
            "fmActivateFabricPartitionWithVFs", handle, ctypes.c_uint(partition_id), vf_array, ctypes.c_uint(len(vfs))
        )

    def deactivate(self, partition_id):
        self._call("fmDeactivateFabricPartition", self._connection(), ctypes.c_uint(partition_id))

    def set_activated(self, partition_ids):
        listing = fmActivatedFabricPartitionList_v1()
        listing.version = fmActivatedFabricPartitionList_version
        listing.numPartitions = len(partition_ids)
        for position, partition_id in enumerate(partition_ids):
            listing.partitionIds[position] = partition_id
        self._call("fmSetActivatedFabricPartitions", self._connection(), ctypes.byref(listing))

    def close(self):
        """Disconnect and shut the library down; errors here change nothing for the caller."""
        if self._handle is not None:
            self._lib.fmDisconnect(self._handle)
            self._handle = None
        if self._initialised:
            self._lib.fmLibShutdown()
            self._initialised = False


# -- the fmpm CLI ---------------------------------------------------------------------------

_FMPM_FAILURE = re.compile(r"^Failed to (?P<what>[^\n]*?)\. fmReturn: (?P<code>-?\d+)\s*$", re.MULTILINE)
#: fmpm messages that carry no fmReturn, and the libnvfm call and error they stand for.
_FMPM_MESSAGES = (
    ("Failed to connect to Fabric Manager instance.", "fmConnect", None),
    ("Failed to initialize Fabric Manager API interface library.", "fmLibInit", None),
    ("Invalid Partition ID.", None, "FM_ST_BADPARAM"),
    ("Invalid partition Id", None, "FM_ST_BADPARAM"),
)


def _exit_status_error(returncode):
    """FM error name of an fmpm exit status: main() returns fmReturn_t, which the shell
    sees modulo 256 (FM_ST_IN_USE -7 -> 249). None when it is not a wrapped FM code."""
    code = returncode - 256 if returncode > 128 else None
    return FM_RETURN_NAMES.get(code)


class FmpmBackend(object):
    """Fabric Manager through the ``fmpm`` sample CLI (NVIDIA/Fabric-Manager-Client).

    ``runner(argv)`` runs an argument list and returns an object with ``returncode``,
    ``stdout``, ``stderr`` (subprocess.CompletedProcess); tests feed recorded outputs.
    fmpm has no option for VFs, so vGPU activation needs libnvfm.
    """

    name = "fmpm"

    def __init__(self, runner=None, executable="fmpm", address=None, unix_socket=None):
        self._runner = runner or run_command
        self._executable = executable
        self._target = ["--unix-domain-socket", unix_socket] if unix_socket else ["--hostname", address] if address else []

    def _run(self, call, arguments):
        completed = self._runner([self._executable] + arguments + self._target)
        stdout = completed.stdout or ""
        failure = _FMPM_FAILURE.search(stdout)
        if failure:
            raise fm_error(call, fm_return_name(int(failure.group("code"))), "fmpm: %s" % failure.group(0).strip())
        for text, message_call, error_name in _FMPM_MESSAGES:
            if text in stdout:
                error_name = error_name or _exit_status_error(completed.returncode) or "FM_ST_CONNECTION_NOT_VALID"
                raise fm_error(message_call or call, error_name, "fmpm: %s" % text)
        if completed.returncode != 0:
            output = " ".join(part.strip() for part in (stdout, completed.stderr or "") if part.strip())
            raise fm_error(
                call,
                _exit_status_error(completed.returncode) or "FMPM_FAILED",
                "fmpm exited with status %d: %s" % (completed.returncode, output or "no output"),
            )
        return stdout

    def partitions(self):
        stdout = self._run("fmGetSupportedFabricPartitions", ["-l"])
        try:
            listing = json.loads(stdout)
            return tuple(
                Partition(
                    partition_id=int(info["partitionId"]),
                    active=bool(info["isActive"]),
                    gpus=tuple(
                        PartitionGpu(
                            physical_id=int(gpu["physicalId"]),
                            uuid=gpu.get("uuid", ""),
                            pci_bus_id=gpu.get("pciBusId", ""),
                            nvlinks_available=int(gpu.get("numNvLinksAvailable", 0)),
                            max_nvlinks=int(gpu.get("maxNumNvLinks", 0)),
                            line_rate_mbps=int(gpu.get("nvlinkLineRateMBps", 0)),
                        )
                        for gpu in info.get("gpuInfo", [])
                    ),
                )
                for info in listing.get("partitionInfo", [])
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise fm_error("fmGetSupportedFabricPartitions", "FMPM_BAD_OUTPUT", "cannot read fmpm -l output (%s)" % error)

    def activate(self, partition_id, vfs=None):
        if vfs is not None:
            raise fm_error(
                "fmActivateFabricPartitionWithVFs",
                "FM_ST_NOT_SUPPORTED",
                "fmpm cannot pass VFs; vGPU mode needs fm_backend=libnvfm (package nvidia-fabricmanager-dev)",
            )
        self._run("fmActivateFabricPartition", ["-a", str(partition_id)])

    def deactivate(self, partition_id):
        self._run("fmDeactivateFabricPartition", ["-d", str(partition_id)])

    def set_activated(self, partition_ids):
        # fmpm loops forever on a duplicate id (continue before strtok): send each once.
        unique = sorted(set(partition_ids))
        self._run("fmSetActivatedFabricPartitions", ["--set-activated-list", ",".join(str(i) for i in unique)])
        # fmpm before commit 944a949 (2026-04) sent an empty list whatever it was given.
        active = sorted(partition.partition_id for partition in self.partitions() if partition.active)
        if active != unique:
            raise fm_error(
                "fmSetActivatedFabricPartitions",
                "FMPM_LIST_NOT_APPLIED",
                "declared %s but Fabric Manager reports %s active; fmpm older than commit 944a949 sends an empty "
                "list: upgrade fmpm or use fm_backend=libnvfm" % (unique, active),
            )

    def close(self):
        """Nothing to release: every fmpm run connects and disconnects by itself."""


# -- FabricManager ---------------------------------------------------------------------------


#: fm_address: a host name or IPv4 address, optionally with a TCP port.
_ADDRESS = re.compile(r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(?P<port>[0-9]{1,5}))?$")


def check_address(address=None, unix_socket=None):
    """InputError unless ``address`` is host or host:port (port 1-65535) and ``unix_socket``
    an absolute path; they cannot be combined. Checked for the simulator too, so a playbook
    tested against one does not fail only on a real host."""
    if address and unix_socket:
        raise InputError("fm_unix_socket", unix_socket, "cannot be combined with fm_address=%s" % address)
    if address is not None:
        match = _ADDRESS.match(address)
        if not match or (match.group("port") is not None and not 0 < int(match.group("port")) < 65536):
            raise InputError(
                "fm_address", address, "must be host or host:port (a host name or IPv4 address, port 1-65535), "
                "such as 127.0.0.1:%d" % FM_CMD_PORT_NUMBER
            )
    if unix_socket is not None and not os.path.isabs(unix_socket):
        raise InputError("fm_unix_socket", unix_socket, "must be the absolute path of Fabric Manager's unix socket "
                         "(FM_CMD_UNIX_SOCKET_PATH)")


class FabricManager(object):
    """Fabric Manager of one host: a backend plus its configuration text."""

    def __init__(self, backend, config_text=None):
        self.backend = backend
        self.config = parse_fabricmanager_cfg(config_text) if config_text is not None else None

    @classmethod
    def open(
        cls, simulator=None, backend="auto", address=None, unix_socket=None, runner=None, config_path=FM_CONFIG_PATH
    ):
        """Fabric Manager of the simulated host at ``simulator``, or of this host.

        ``backend``: ``auto`` (libnvfm when the library loads, else ``fmpm`` on PATH),
        ``libnvfm`` or ``fmpm``. ``address`` ("host" or "host:port") and ``unix_socket``
        say where FM listens; without either, FM_CMD_UNIX_SOCKET_PATH of ``config_path``
        when set, else 127.0.0.1:6666. The FM mode comes from ``config_path`` too (None
        when unreadable, e.g. FM on another host).
        """
        if backend not in FM_BACKENDS:
            raise InputError("fm_backend", backend, "unknown Fabric Manager backend", valid=FM_BACKENDS)
        check_address(address, unix_socket)
        if simulator:
            # Imported here so that the real path never loads the simulator.
            from ._simulator import fm_lib

            if backend == "fmpm":
                fmpm = FmpmBackend(fm_lib.SimulatedFmpm(simulator), address=address, unix_socket=unix_socket)
                return cls(fmpm, fm_lib.fabricmanager_cfg(simulator))
            library = LibnvfmBackend(fm_lib.SimulatedFmLibrary(simulator), address, unix_socket, name="simulator")
            return cls(library, fm_lib.fabricmanager_cfg(simulator))
        config_text = _read_text(config_path)
        if not (address or unix_socket) and config_text is not None:
            # FM_CMD_UNIX_SOCKET_PATH set: FM listens there and not on TCP; else where
            # FM_CMD_BIND_INTERFACE / FM_CMD_PORT_NUMBER say.
            config = parse_fabricmanager_cfg(config_text)
            unix_socket = config.unix_socket
            address = None if unix_socket else config.address
        if backend in ("auto", "libnvfm"):
            library = _load_libnvfm()
            if library is not None:
                return cls(LibnvfmBackend(library, address, unix_socket), config_text)
            if backend == "libnvfm":
                raise fm_error("fmLibInit", "FM_LIBRARY_NOT_FOUND", "%s not found (package nvidia-fabricmanager-dev "
                               "or -devel)" % " / ".join(LIBNVFM_NAMES))
        executable = shutil.which("fmpm")
        if executable is None:
            raise fm_error(
                "fmLibInit",
                "FM_LIBRARY_NOT_FOUND",
                "neither libnvfm (%s) nor the fmpm CLI is installed" % " / ".join(LIBNVFM_NAMES)
                if backend == "auto"
                else "fmpm is not on PATH (build it from NVIDIA/Fabric-Manager-Client)",
            )
        return cls(FmpmBackend(runner, executable, address, unix_socket), config_text)

    @property
    def backend_name(self):
        return self.backend.name

    def mode(self):
        """FABRIC_MODE (0 bare metal, 1 shared NVSwitch, 2 vGPU), or None when unknown."""
        return self.config.mode if self.config is not None else None

    def partitions(self):
        return self.backend.partitions()

    def activate(self, partition_id, vfs=None):
        self.backend.activate(partition_id, vfs)

    def deactivate(self, partition_id):
        self.backend.deactivate(partition_id)

    def set_activated(self, partition_ids):
        self.backend.set_activated(list(partition_ids))

    def close(self):
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _read_text(path):
    try:
        with open(path, "r") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _load_libnvfm():
    for name in LIBNVFM_NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


# -- decisions (pure) -------------------------------------------------------------------------


def _matches(gpu, device, ids_are_module_ids):
    if gpu.uuid:
        return gpu.uuid.lower() == device.uuid.lower()
    if gpu.pci_bus_id:
        key = bus_id_key(gpu.pci_bus_id)
        return key is not None and key == bus_id_key(device.pci_bus_id)
    return ids_are_module_ids(device) and device.module_id == gpu.physical_id


def _module_ids_are_physical_ids(device):
    return device.architecture is not None and capabilities_for(device.architecture).fabric_partition_ids_are_module_ids


def mapped_gpus(partition, devices):
    """[(PartitionGpu, GpuDevice or None)]: FM's GPUs matched to NVML devices by UUID, else
    PCI bus id, else (Hopper and later, where FM reports neither) module id = physical id."""
    pairs = []
    for gpu in partition.gpus:
        found = [device for device in devices if _matches(gpu, device, _module_ids_are_physical_ids)]
        pairs.append((gpu, found[0] if found else None))
    return pairs


def physical_ids(partition):
    return frozenset(gpu.physical_id for gpu in partition.gpus)


def _gpu_list(partition, devices):
    """"GPUs 0, 2" (NVML indexes) or "physical ids 1, 3" when some GPU is not visible."""
    pairs = mapped_gpus(partition, devices)
    if pairs and all(device is not None for _gpu, device in pairs):
        return "GPUs %s" % ", ".join(str(device.index) for _gpu, device in sorted(pairs, key=lambda p: p[1].index))
    return "physical ids %s" % ", ".join(str(gpu.physical_id) for gpu in partition.gpus)


def describe_partition(partition, devices):
    """A partition as modules return it."""
    gpus = []
    for gpu, device in mapped_gpus(partition, devices):
        gpus.append(
            {
                "physical_id": gpu.physical_id,
                "index": device.index if device else None,
                "uuid": gpu.uuid or (device.uuid if device else None),
                "pci_bus_id": gpu.pci_bus_id or (device.pci_bus_id if device else None),
                "nvlinks_available": gpu.nvlinks_available,
                "max_nvlinks": gpu.max_nvlinks,
                "nvlink_line_rate_mbps": gpu.line_rate_mbps,
            }
        )
    return {
        "id": partition.partition_id,
        "active": partition.active,
        "physical_ids": [gpu.physical_id for gpu in partition.gpus],
        "gpus": gpus,
        "nvlinks": sum(gpu.nvlinks_available for gpu in partition.gpus),
    }


def _partition_choices(partitions, devices):
    return ["%d (%s)" % (p.partition_id, _gpu_list(p, devices)) for p in partitions]


def find_partition(partitions, partition_id):
    for partition in partitions:
        if partition.partition_id == partition_id:
            return partition
    raise InputError(
        "partition_id", partition_id, "Fabric Manager lists no such partition", valid=[p.partition_id for p in partitions]
    )


def partition_for_gpus(partitions, devices, selected):
    """The partition whose GPUs are exactly the ``selected`` GpuDevices."""
    wanted = frozenset(device.index for device in selected)
    for partition in partitions:
        pairs = mapped_gpus(partition, devices)
        if all(device is not None for _gpu, device in pairs) and frozenset(d.index for _g, d in pairs) == wanted:
            return partition
    raise InputError(
        "gpus",
        sorted(wanted),
        "no Fabric Manager partition connects exactly these GPUs",
        valid=_partition_choices(partitions, devices),
    )


def overlapping_active(partitions, target):
    """Active partitions other than ``target`` that share a GPU with it."""
    wanted = physical_ids(target)
    return [
        partition
        for partition in partitions
        if partition.active and partition.partition_id != target.partition_id and physical_ids(partition) & wanted
    ]


def mig_blockers(partition, devices, mig_in_partitions=True):
    """GPUs whose MIG mode forbids activating ``partition``: in a multi-GPU partition, GPUs
    with MIG enabled (or pending) whose architecture does not allow MIG there (Ampere), or
    any such GPU when the MigInFabricPartitions feature gate is off."""
    if len(partition.gpus) < 2:
        return []
    blockers = []
    for _gpu, device in mapped_gpus(partition, devices):
        if device is None or not (device.mig_current or device.mig_pending):
            continue
        allowed = device.architecture is not None and capabilities_for(device.architecture).mig_allowed_in_multi_gpu_partitions
        if not (allowed and mig_in_partitions):
            blockers.append(device)
    return blockers


def parse_vfs(vfs):
    """VF PCI addresses ("0000:3b:00.4", "3b:00.4") -> tuple of (domain, bus, device,
    function), in the order given (FM wants the same order at every activation)."""
    parsed = []
    for entry in vfs:
        key = bus_id_key(str(entry).strip())
        if key is None or key[1] > 0xFF or key[2] > 0x1F or key[3] > 0xFF:
            raise InputError("vfs", entry, "not a PCI address", valid=["0000:3b:00.4", "3b:00.4"])
        if key in parsed:
            raise InputError("vfs", entry, "listed twice")
        parsed.append(key)
    return tuple(parsed)


def plan_partition(partitions, target, state, exclusive=False, devices=()):
    """Actions (dicts) that bring ``target`` to ``state`` ("activated"/"deactivated").

    Activating an active partition is no change. An active partition sharing GPUs with the
    target blocks activation, unless ``exclusive``, which deactivates it first.
    """
    if state == "deactivated":
        return [{"action": "deactivate", "partition_id": target.partition_id}] if target.active else []
    if target.active:
        return []
    blocking = overlapping_active(partitions, target)
    if blocking and not exclusive:
        raise FabricPartitionError(
            "partition %d (%s) overlaps active partition%s %s: deactivate %s first or set exclusive: true"
            % (
                target.partition_id,
                _gpu_list(target, devices),
                "s" if len(blocking) > 1 else "",
                ", ".join("%d (%s)" % (p.partition_id, _gpu_list(p, devices)) for p in blocking),
                "them" if len(blocking) > 1 else "it",
            ),
            partition_id=target.partition_id,
            blocking=[p.partition_id for p in blocking],
        )
    actions = [{"action": "deactivate", "partition_id": p.partition_id} for p in blocking]
    return actions + [{"action": "activate", "partition_id": target.partition_id}]


def active_ids(partitions):
    return sorted(partition.partition_id for partition in partitions if partition.active)


def after_plan(partitions, actions):
    """Partitions as they will be once ``actions`` ran (for check mode)."""
    active = set(active_ids(partitions))
    for action in actions:
        if action["action"] == "activate":
            active.add(action["partition_id"])
        elif action["action"] == "deactivate":
            active.discard(action["partition_id"])
    return tuple(partition._replace(active=partition.partition_id in active) for partition in partitions)


def _require_partition_mode(mode):
    if mode == BARE_METAL:
        raise FabricPartitionError(
            "Fabric Manager runs in bare-metal / full passthrough mode (FABRIC_MODE=0), which uses no NVSwitch "
            "partitions: set FABRIC_MODE=1 (shared NVSwitch) or 2 (vGPU) in fabricmanager.cfg and restart "
            "nvidia-fabricmanager"
        )


def _check_vfs(mode, vfs, target):
    """VFs are for vGPU mode only, one per GPU of the partition, and vGPU mode needs them."""
    if vfs and mode == SHARED_NVSWITCH:
        raise InputError("vfs", [format_pci(vf) for vf in vfs], "VFs are only used in vGPU mode (FABRIC_MODE=2); "
                         "Fabric Manager runs in shared NVSwitch mode (FABRIC_MODE=1)")
    if not vfs and mode == VGPU:
        raise InputError("vfs", None, "vGPU mode (FABRIC_MODE=2) activates partitions with the VF of each GPU; "
                         "give one VF PCI address per GPU of partition %d" % target.partition_id)
    if vfs and len(vfs) != len(target.gpus):
        raise InputError(
            "vfs",
            [format_pci(vf) for vf in vfs],
            "partition %d has %d GPUs: give one VF per GPU, in the same order at every activation"
            % (target.partition_id, len(target.gpus)),
        )


# -- module entry points -------------------------------------------------------------------


def open_from_params(params, config_path=FM_CONFIG_PATH):
    """FabricManager for a module's options (simulator, fm_backend, fm_address, fm_unix_socket)."""
    return FabricManager.open(
        simulator=params.get("simulator"),
        backend=params.get("fm_backend") or "auto",
        address=params.get("fm_address"),
        unix_socket=params.get("fm_unix_socket"),
        config_path=config_path,
    )


def run_partition_plan(fm, actions, vfs):
    """Execute ``actions``; a failure after the first step names the steps already done."""
    done = []
    for action in actions:
        try:
            if action["action"] == "deactivate":
                fm.deactivate(action["partition_id"])
            else:
                fm.activate(action["partition_id"], vfs)
        except MigError as error:
            if not done:
                raise
            steps = ", ".join("%s %d" % (a["action"], a["partition_id"]) for a in done)
            raise FabricPartitionError(
                "%s (after %s)%s" % (error, steps, _left_as_is(done)),
                partition_id=action["partition_id"],
                completed=done,
            )
        done.append(action)


def _left_as_is(done):
    """What a failure after ``done`` leaves behind. Deactivated partitions are not activated
    again: the failed call may have taken effect (a timeout says nothing), and an activation
    that overlaps it would fail or take GPUs from the partition being set up."""
    deactivated = [a["partition_id"] for a in done if a["action"] == "deactivate"]
    if not deactivated:
        return ""
    return "; partition%s %s %s deactivated and %s left so: run again to finish, or activate %s again" % (
        "s" if len(deactivated) > 1 else "",
        ", ".join(str(partition_id) for partition_id in deactivated),
        "were" if len(deactivated) > 1 else "was",
        "are" if len(deactivated) > 1 else "is",
        "them" if len(deactivated) > 1 else "it",
    )


def _restore(fm, partition_ids, check_mode):
    """fmSetActivatedFabricPartitions after an FM restart in resiliency mode."""
    try:
        partitions = fm.partitions()
    except HardwareError as error:
        if error.error != "FM_ST_NOT_CONFIGURED":
            raise
        partitions = None
    declared = sorted(set(partition_ids))
    if partitions is not None:
        if active_ids(partitions) == declared:
            return partitions, []
        raise FabricPartitionError(
            "Fabric Manager is not waiting for the activated partition list (it was not restarted with "
            "FABRIC_MODE_RESTART=1 / --restart); active partitions are %s, declared %s: use state=activated or "
            "deactivated to change partitions" % (active_ids(partitions), declared),
            blocking=active_ids(partitions),
        )
    actions = [{"action": "set_activated", "partition_ids": declared}]
    if check_mode:
        return None, actions
    fm.set_activated(declared)
    return fm.partitions(), actions


def _check_options(params):
    """Option combinations the argument spec cannot express."""
    state = params["state"]
    if params.get("vfs") and state != "activated":
        raise InputError("vfs", params["vfs"], "only used with state=activated")
    if state == "restored":
        for option in ("partition_id", "gpus"):
            if params.get(option) not in (None, []):
                raise InputError(option, params[option], "not used with state=restored (use activated_partitions)")
        for partition_id in params.get("activated_partitions") or []:
            if not 0 <= partition_id < FM_MAX_FABRIC_PARTITIONS:
                raise InputError("activated_partitions", partition_id, "not a Fabric Manager partition id "
                                 "(0 to %d)" % (FM_MAX_FABRIC_PARTITIONS - 1))
    elif params.get("activated_partitions") is not None:
        raise InputError("activated_partitions", params["activated_partitions"], "only used with state=restored")


def _refuse_mig(target, devices, mig_in_partitions):
    blockers = mig_blockers(target, devices, mig_in_partitions)
    if blockers:
        raise FabricPartitionError(
            "partition %d (%s) is a multi-GPU partition and MIG is enabled or pending on GPU %s; %s"
            % (
                target.partition_id,
                _gpu_list(target, devices),
                ", ".join(str(device.index) for device in blockers),
                "disable MIG there first (Ampere trains NVLinks off in MIG mode)"
                if mig_in_partitions
                else "the feature gate MigInFabricPartitions is off",
            ),
            partition_id=target.partition_id,
            gpus=[device.index for device in blockers],
        )


def partition_plan(mode, partitions, target, state, vfs, exclusive, devices, mig_in_partitions):
    """The actions that bring ``target`` to ``state``; every refusal (VFs, MIG, overlap)
    is raised before anything changes."""
    if state == "activated" and not target.active:
        _check_vfs(mode, vfs, target)
        _refuse_mig(target, devices, mig_in_partitions)
    actions = plan_partition(partitions, target, state, exclusive, devices)
    for action in actions:
        if action["action"] == "activate" and vfs:
            action["vfs"] = [format_pci(vf) for vf in vfs]
    return actions


def _target(params, partitions, devices, selected):
    """The partition ``partition_id`` or ``gpus`` names (None when neither is given)."""
    if params.get("partition_id") is not None:
        return find_partition(partitions, params["partition_id"])
    if params.get("gpus"):
        return partition_for_gpus(partitions, devices, selected)
    if params["state"] != "listed":
        raise InputError("partition_id", None, "state=%s needs partition_id or gpus" % params["state"])
    return None


def _restore_result(fm, params, devices, session):
    declared = sorted(set(params["activated_partitions"] or []))
    after, actions = _restore(fm, declared, session.check_mode)
    result = {
        "changed": bool(actions),
        "actions": actions,
        "partitions": [describe_partition(p, devices) for p in after] if after is not None else [],
    }
    if session.diff:
        result["diff"] = {
            "before": {"restart_pending": bool(actions)},
            "after": {"restart_pending": False, "active_partitions": declared},
        }
    return result


def ensure_partition(session):
    """The fabric_partition module: bring one partition to the wanted state, restore the
    activated list, or only list. ``session`` is ``_module.Session``. Every refusal
    (input, mode, MIG, VFs, overlap) happens before the first Fabric Manager change."""
    params = session.params
    state = params["state"]
    _check_options(params)
    vfs = parse_vfs(params["vfs"]) if params.get("vfs") else None
    devices = session.hardware.devices()
    fm = open_from_params(params)
    try:
        mode = fm.mode()
        result = {"fm_backend": fm.backend_name, "fabric_mode": FABRIC_MODES.get(mode), "actions": []}
        if state == "listed" and mode == BARE_METAL:
            result["partitions"] = []
            return result
        if state != "listed":
            _require_partition_mode(mode)
        if state == "restored":
            result.update(_restore_result(fm, params, devices, session))
            return result
        partitions = fm.partitions()
        target = _target(params, partitions, devices, session.gpus)
        actions = []
        if state != "listed":
            actions = partition_plan(
                mode, partitions, target, state, vfs, params.get("exclusive"), devices,
                session.feature_gates.get("MigInFabricPartitions", True),
            )
        if actions and not session.check_mode:
            run_partition_plan(fm, actions, vfs)
            after = fm.partitions()
        else:
            after = after_plan(partitions, actions)
        result.update(changed=bool(actions), actions=actions, partitions=[describe_partition(p, devices) for p in after])
        if target is not None:
            result["partition"] = describe_partition(find_partition(after, target.partition_id), devices)
        if session.diff and state != "listed":
            result["diff"] = {
                "before": {"active_partitions": active_ids(partitions)},
                "after": {"active_partitions": active_ids(after)},
            }
        return result
    finally:
        fm.close()


def fabric_inventory(devices, simulator=None, backend="auto", address=None, unix_socket=None):
    """The fabric section of gpu_info; never fails: {"available": False, "reason": ...}
    where the host has no NVSwitch / Fabric Manager (or it cannot be reached)."""
    try:
        fm = FabricManager.open(simulator, backend, address, unix_socket)
    except MigError as error:
        return {"available": False, "reason": str(error)}
    try:
        mode = fm.mode()
        summary = {"available": True, "fm_backend": fm.backend_name, "mode": FABRIC_MODES.get(mode), "partitions": []}
        if mode == BARE_METAL:
            return summary
        try:
            summary["partitions"] = [describe_partition(p, devices) for p in fm.partitions()]
        except HardwareError as error:
            if error.error == "FM_ST_NOT_CONFIGURED":
                summary["restart_pending"] = True
                return summary
            return {"available": False, "reason": str(error)}
        return summary
    finally:
        fm.close()
