# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libnvfm binding: ctypes definitions of ``nv_fm_types.h`` (struct layouts,
``MAKE_FM_PARAM_VERSION`` versions, ``fmReturn_t`` names) and the FABRIC_MODE values. No
Python package for libnvfm exists (reference/fabric-manager-and-cdi.md A6). Both the
collection's Fabric Manager client (``_fabric``) and the simulated libnvfm
(``_simulator/fm_lib``) use it, so neither imports the other.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes

# -- nv_fm_types.h -----------------------------------------------------------------------

FM_CMD_PORT_NUMBER = 6666
FM_MAX_STR_LENGTH = 256
FM_UUID_BUFFER_SIZE = 80
FM_DEVICE_PCI_BUS_ID_BUFFER_SIZE = 32
FM_MAX_NUM_GPUS = 16
FM_MAX_FABRIC_PARTITIONS = 64

#: fmReturn_t (nv_fm_types.h; -11 and below come from the newer multi-node header).
FM_RETURN_NAMES = {
    0: "FM_ST_SUCCESS",
    -1: "FM_ST_BADPARAM",
    -2: "FM_ST_GENERIC_ERROR",
    -3: "FM_ST_NOT_SUPPORTED",
    -4: "FM_ST_UNINITIALIZED",
    -5: "FM_ST_TIMEOUT",
    -6: "FM_ST_VERSION_MISMATCH",
    -7: "FM_ST_IN_USE",
    -8: "FM_ST_NOT_CONFIGURED",
    -9: "FM_ST_CONNECTION_NOT_VALID",
    -10: "FM_ST_NVLINK_ERROR",
    -11: "FM_ST_RESOURCE_BAD",
    -12: "FM_ST_RESOURCE_IN_USE",
    -13: "FM_ST_RESOURCE_NOT_IN_USE",
    -14: "FM_ST_RESOURCE_EXHAUSTED",
    -15: "FM_ST_RESOURCE_NOT_READY",
    -16: "FM_ST_PARTITION_EXISTS",
    -17: "FM_ST_PARTITION_ID_IN_USE",
    -18: "FM_ST_PARTITION_ID_NOT_IN_USE",
    -19: "FM_ST_PARTITION_NAME_IN_USE",
    -20: "FM_ST_PARTITION_NAME_NOT_IN_USE",
    -21: "FM_ST_PARTITION_ID_NAME_MISMATCH",
    -22: "FM_ST_NOT_READY",
    -23: "FM_ST_RESOURCE_USED_IN_THIS_PARTITION",
    -24: "FM_ST_RESOURCE_USED_IN_ANOTHER_PARTITION",
    -25: "FM_ST_PARTITION_MISWIRED_TRUNKS",
    -26: "FM_ST_PARTITION_INSUFFICIENT_TRUNKS",
    -27: "FM_ST_PARTITION_MISSING_SWITCHES",
    -28: "FM_ST_PARTITION_NETWORK_CONFIG_ERROR",
    -29: "FM_ST_PARTITION_ROUTE_PROGRAMMING_ERROR",
}
FM_ST = dict((name, code) for code, name in FM_RETURN_NAMES.items())

#: enum nvFmApiAddrTypes (newer header).
NV_FM_API_ADDR_TYPE_INET = 1
NV_FM_API_ADDR_TYPE_UNIX = 2

fmHandle_t = ctypes.c_void_p


class fmConnectParams_v1(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("addressInfo", ctypes.c_char * FM_MAX_STR_LENGTH),
        ("timeoutMs", ctypes.c_uint),
        ("addressIsUnixSocket", ctypes.c_uint),
    ]


class fmConnectParams_v2(ctypes.Structure):
    _fields_ = fmConnectParams_v1._fields_ + [("addressType", ctypes.c_int)]


class fmPciDevice_t(ctypes.Structure):
    _fields_ = [
        ("domain", ctypes.c_uint),
        ("bus", ctypes.c_uint),
        ("device", ctypes.c_uint),
        ("function", ctypes.c_uint),
    ]


class fmFabricPartitionGpuInfo_t(ctypes.Structure):
    _fields_ = [
        ("physicalId", ctypes.c_uint),
        ("uuid", ctypes.c_char * FM_UUID_BUFFER_SIZE),
        ("pciBusId", ctypes.c_char * FM_DEVICE_PCI_BUS_ID_BUFFER_SIZE),
        ("numNvLinksAvailable", ctypes.c_uint),
        ("maxNumNvLinks", ctypes.c_uint),
        ("nvlinkLineRateMBps", ctypes.c_uint),
    ]


class fmFabricPartitionInfo_t(ctypes.Structure):
    _fields_ = [
        ("partitionId", ctypes.c_uint),
        ("isActive", ctypes.c_uint),
        ("numGpus", ctypes.c_uint),
        ("gpuInfo", fmFabricPartitionGpuInfo_t * FM_MAX_NUM_GPUS),
    ]


class fmFabricPartitionList_v2(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("numPartitions", ctypes.c_uint),
        ("maxNumPartitions", ctypes.c_uint),
        ("partitionInfo", fmFabricPartitionInfo_t * FM_MAX_FABRIC_PARTITIONS),
    ]


class fmActivatedFabricPartitionList_v1(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("numPartitions", ctypes.c_uint),
        ("partitionIds", ctypes.c_uint * FM_MAX_FABRIC_PARTITIONS),
    ]


def make_fm_param_version(struct_type, version):
    """``MAKE_FM_PARAM_VERSION(typeName, ver)``: struct size | version << 24."""
    return ctypes.sizeof(struct_type) | (version << 24)


fmConnectParams_version1 = make_fm_param_version(fmConnectParams_v1, 1)
fmConnectParams_version2 = make_fm_param_version(fmConnectParams_v2, 2)
fmFabricPartitionList_version = make_fm_param_version(fmFabricPartitionList_v2, 1)
fmActivatedFabricPartitionList_version = make_fm_param_version(fmActivatedFabricPartitionList_v1, 1)

#: fmpm's connect timeout (fmpm.cpp); the library call blocks at most this long.
CONNECT_TIMEOUT_MS = 1000

#: FABRIC_MODE values of fabricmanager.cfg and the names the collection uses for them.
BARE_METAL, SHARED_NVSWITCH, VGPU = 0, 1, 2
FABRIC_MODES = {BARE_METAL: "bare_metal", SHARED_NVSWITCH: "shared_nvswitch", VGPU: "vgpu"}


def connect_params(address=None, unix_socket=None, version=2):
    """fmConnectParams (v2, or v1 for libraries older than the v2 header) as fmpm fills it."""
    struct_type, version_value = (
        (fmConnectParams_v2, fmConnectParams_version2) if version == 2 else (fmConnectParams_v1, fmConnectParams_version1)
    )
    params = struct_type()
    params.version = version_value
    params.timeoutMs = CONNECT_TIMEOUT_MS
    target = unix_socket or address or "127.0.0.1"
    params.addressInfo = target.encode("utf-8")[: FM_MAX_STR_LENGTH - 1]
    params.addressIsUnixSocket = 1 if unix_socket else 0
    if version == 2:
        params.addressType = NV_FM_API_ADDR_TYPE_UNIX if unix_socket else NV_FM_API_ADDR_TYPE_INET
    return params
