"""Recorded Fabric Manager responses (see data/README.md) and GPU inventories.

The replaying libnvfm reads and writes the caller's structs by byte offset, computed from
nv_fm_types.h with the struct module, not through the collection's ctypes classes: a layout
mistake in those classes shows up as a wrong field here.
"""

import ctypes
import json
import struct
import subprocess
from pathlib import Path

from ansible_collections.gpuops.mig.plugins.module_utils._fabric import FmpmBackend
from ansible_collections.gpuops.mig.plugins.module_utils._model import GpuDevice

DATA = Path(__file__).resolve().parent / "data"

# nv_fm_types.h layouts (all members 4-byte aligned)
CONNECT_V1_SIZE = 4 + 256 + 4 + 4
GPU_INFO = struct.Struct("<I80s32sIII")  # 128 bytes
PARTITION_HEADER = struct.Struct("<III")  # partitionId, isActive, numGpus
PARTITION_SIZE = PARTITION_HEADER.size + 16 * GPU_INFO.size  # 2060
LIST_HEADER = struct.Struct("<III")  # version, numPartitions, maxNumPartitions
LIST_SIZE = LIST_HEADER.size + 64 * PARTITION_SIZE  # 131852
PCI_DEVICE = struct.Struct("<IIII")


def load_text(name):
    return (DATA / name).read_text()


def load_json(name):
    return json.loads(load_text(name))


def pack_partition_list(listing):
    """An fmFabricPartitionList_v2 as libnvfm fills it, from fmpm -l's JSON fields."""
    buffer = bytearray(LIST_SIZE)
    LIST_HEADER.pack_into(buffer, 0, listing["version"], listing["numPartitions"], listing["maxNumPartitions"])
    for position, info in enumerate(listing["partitionInfo"]):
        base = LIST_HEADER.size + position * PARTITION_SIZE
        PARTITION_HEADER.pack_into(buffer, base, info["partitionId"], info["isActive"], info["numGpus"])
        for slot, gpu in enumerate(info["gpuInfo"]):
            GPU_INFO.pack_into(
                buffer,
                base + PARTITION_HEADER.size + slot * GPU_INFO.size,
                gpu["physicalId"],
                gpu["uuid"].encode(),
                gpu["pciBusId"].encode(),
                gpu["numNvLinksAvailable"],
                gpu["maxNumNvLinks"],
                gpu["nvlinkLineRateMBps"],
            )
    return bytes(buffer)


def _raw(reference):
    target = getattr(reference, "_obj", reference)
    return ctypes.string_at(ctypes.addressof(target), ctypes.sizeof(target)), target


class RecordedLibnvfm(object):
    """A libnvfm that replays one recorded call sequence and checks every argument."""

    def __init__(self, scenario):
        self.pending = list(load_json(scenario)["calls"])
        self.handle = None

    def __getattr__(self, name):
        if not name.startswith("fm"):
            raise AttributeError(name)
        return lambda *args: self._replay(name, args)

    def _replay(self, name, args):
        assert self.pending, "unexpected call %s" % name
        record = self.pending.pop(0)
        assert record["call"] == name, "expected %s, got %s" % (record["call"], name)
        expect = record.get("expect", {})
        seen = getattr(self, "_check_" + name, lambda args: {})(args)
        for field, value in expect.items():
            assert seen[field] == value, "%s: %s is %r, expected %r" % (name, field, seen[field], value)
        if record["return"] == 0:
            getattr(self, "_fill_" + name, lambda args, record: None)(args, record)
        return record["return"]

    def _check_handle(self, handle):
        assert ctypes.cast(handle, ctypes.c_void_p).value == self.handle

    def _check_fmConnect(self, args):
        raw, _params = _raw(args[0])
        seen = {
            "version": struct.unpack_from("<I", raw, 0)[0],
            "addressInfo": raw[4:260].split(b"\0")[0].decode(),
            "timeoutMs": struct.unpack_from("<I", raw, 260)[0],
            "addressIsUnixSocket": struct.unpack_from("<I", raw, 264)[0],
        }
        if len(raw) > CONNECT_V1_SIZE:
            seen["addressType"] = struct.unpack_from("<i", raw, CONNECT_V1_SIZE)[0]
        return seen

    def _fill_fmConnect(self, args, record):
        self.handle = record["handle"]
        getattr(args[1], "_obj").value = record["handle"]

    def _check_fmDisconnect(self, args):
        self._check_handle(args[0])
        return {}

    def _check_fmGetSupportedFabricPartitions(self, args):
        self._check_handle(args[0])
        raw, _listing = _raw(args[1])
        assert len(raw) == LIST_SIZE
        return {"version": struct.unpack_from("<I", raw, 0)[0]}

    def _fill_fmGetSupportedFabricPartitions(self, args, record):
        packed = pack_partition_list(json.loads(load_text(record["fill_from"])))
        ctypes.memmove(ctypes.addressof(args[1]._obj), packed, len(packed))

    def _check_partition_call(self, args):
        self._check_handle(args[0])
        return {"partitionId": args[1].value}

    _check_fmActivateFabricPartition = _check_partition_call
    _check_fmDeactivateFabricPartition = _check_partition_call

    def _check_fmActivateFabricPartitionWithVFs(self, args):
        seen = self._check_partition_call(args)
        count = args[3].value
        raw = ctypes.string_at(ctypes.addressof(args[2]), PCI_DEVICE.size * count)
        seen["vfs"] = [list(PCI_DEVICE.unpack_from(raw, i * PCI_DEVICE.size)) for i in range(count)]
        return seen

    def _check_fmSetActivatedFabricPartitions(self, args):
        self._check_handle(args[0])
        raw, _listing = _raw(args[1])
        assert len(raw) == 4 + 4 + 64 * 4
        version, count = struct.unpack_from("<II", raw, 0)
        return {"version": version, "partitionIds": list(struct.unpack_from("<%dI" % count, raw, 8))}


class RecordedFmpm(object):
    """A runner for FmpmBackend: answers each argv with a recorded fmpm run."""

    def __init__(self, answers):
        self.answers = answers  # {tuple(argv): (returncode, stdout, stderr)}
        self.argvs = []

    def __call__(self, argv):
        self.argvs.append(list(argv))
        returncode, stdout, stderr = self.answers[tuple(argv)]
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)


def recorded_run(name):
    run = load_json("fmpm_runs.json")[name]
    return run["returncode"], run["stdout"], run["stderr"]


def _device(index, arch, module_id, uuid, bus, mig=False, pending=None):
    return GpuDevice(
        index=index,
        uuid=uuid,
        name="GPU",
        pci_bus_id=bus,
        pci_device_id=0,
        architecture=arch,
        module_id=module_id,
        minor=index,
        memory_mb=81920,
        mig_current=mig,
        mig_pending=mig if pending is None else pending,
    )


#: DGX H100: module ids (= FM physical ids) deliberately not in NVML index order.
H100_MODULE_IDS = (2, 4, 1, 3, 6, 8, 5, 7)


def dgx_h100(mig_on=()):
    return [
        _device(i, 9, module, "GPU-h100-%d" % i, "00000000:%02X:00.0" % (0x18 + i), mig=i in mig_on)
        for i, module in enumerate(H100_MODULE_IDS)
    ]


def dgx_a100(mig_on=()):
    """Matches fmpm_list_dgx_a100.txt by UUID and bus id; the module ids are wrong on
    purpose (Ampere partitions must be matched by UUID, not by module id)."""
    listing = json.loads(load_text("fmpm_list_dgx_a100.txt"))
    by_physical = {}
    for info in listing["partitionInfo"]:
        for gpu in info["gpuInfo"]:
            by_physical[gpu["physicalId"]] = gpu
    return [
        _device(i, 7, 8 - i, by_physical[i + 1]["uuid"], by_physical[i + 1]["pciBusId"], mig=i in mig_on)
        for i in range(8)
    ]


def recorded_partitions(listing_file):
    """Partitions as FmpmBackend reads them from a recorded fmpm -l output."""
    runner = RecordedFmpm({("fmpm", "-l"): (0, load_text(listing_file), "")})
    return FmpmBackend(runner).partitions()
