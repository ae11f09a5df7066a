"""Simulated hosts with a known MIG layout, read back through gpu_info's code path
(shared by the unit tests of the report and the integration test of report.yml)."""

from ansible_collections.gpuops.mig.plugins.module_utils._fabric import FabricManager
from ansible_collections.gpuops.mig.plugins.module_utils._inventory import inventory
from ansible_collections.gpuops.mig.plugins.module_utils._model import Placement
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host

# NVML profile ids of the boards used below (reference/mig-profiles.md, section 3).
H100_1G_10GB, H100_1G_20GB, H100_3G_40GB = 19, 15, 9
CI_1C, CI_2C = 0, 1
RTX_2G_48GB, RTX_1G_24GB = 5, 14


def gpu_info(path):
    """What gpu_info returns for the simulated host at ``path`` (the module adds backend)."""
    with Hardware(simulator=path) as hardware:
        result = inventory(hardware, hardware.select(None, None))
        result["backend"] = hardware.backend
    return result


def build_dgx_h100(path):
    """GPUs 0-1: seven 1g.10gb; GPU 2: 3g.40gb at slot 0 with a 2c CI at 0 and a 1c CI at 2,
    plus a 1g.20gb at slot 6 without CI; GPU 3: MIG on, empty; GPUs 4-7: MIG off and in an
    active four-GPU fabric partition."""
    host.create_host(path, "dgx-h100", fabric_mode=1)
    layout = {}
    with Hardware(simulator=path) as hardware:
        for index in range(4):
            hardware.set_mig_mode(index, True)
        for index in (0, 1):
            for dummy in range(7):
                gpu_instance = hardware.create_gpu_instance(index, H100_1G_10GB)
                hardware.create_compute_instance(index, gpu_instance.gi_id, CI_1C)
        three = hardware.create_gpu_instance(2, H100_3G_40GB, Placement(0, 4))
        two_c = hardware.create_compute_instance(2, three.gi_id, CI_2C, Placement(0, 2))
        one_c = hardware.create_compute_instance(2, three.gi_id, CI_1C, Placement(2, 1))
        one_g = hardware.create_gpu_instance(2, H100_1G_20GB, Placement(6, 2))
        layout.update(three=three.gi_id, two_c=two_c.ci_id, one_c=one_c.ci_id, one_g=one_g.gi_id)
    fabric = FabricManager.open(path)
    try:
        partition = [p for p in fabric.partitions() if sorted(g.physical_id for g in p.gpus) == [5, 6, 7, 8]][0]
        fabric.activate(partition.partition_id)
    finally:
        fabric.close()
    layout["partition"] = partition.partition_id
    return layout


def build_rtx_pro(path):
    """RTX PRO 6000 (12-unit grid): GPU 0 with a 2g.48gb and a 1g.24gb, the rest MIG off."""
    host.create_host(path, "rtx-pro-6000-x4")
    with Hardware(simulator=path) as hardware:
        hardware.set_mig_mode(0, True)
        two = hardware.create_gpu_instance(0, RTX_2G_48GB, Placement(0, 6))
        hardware.create_compute_instance(0, two.gi_id, CI_1C)
        one = hardware.create_gpu_instance(0, RTX_1G_24GB, Placement(6, 3))
    return {"two": two, "one": one}
