"""Plain-data hosts for the CDI tests: a DGX H100 (8 GPUs) with a mixed MIG layout or
with full GPUs only, a mig-minors file as the driver writes it, and the official schema
(also imported by tests/integration/test_cdi_spec.py)."""

import json
from pathlib import Path

from ansible_collections.gpuops.mig.plugins.module_utils._model import GpuDevice, MigDevice

REPO = Path(__file__).resolve().parents[3]
SCHEMA_DIR = REPO.parent / "shared" / "reference" / "cdi"
GOLDEN = Path(__file__).resolve().parent / "golden"

H100_PCI_BUS_IDS = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")


def driver_mig_minors(gpus=32, gis=15, cis=8):
    """The mig-minors file of nv-caps.c: config, monitor, then every gpu/gi(/ci) slot."""
    lines = ["config 1", "monitor 2"]
    minor = 3
    for gpu in range(gpus):
        for gi in range(gis):
            lines.append("gpu%d/gi%d/access %d" % (gpu, gi, minor))
            minor += 1
            for ci in range(cis):
                lines.append("gpu%d/gi%d/ci%d/access %d" % (gpu, gi, ci, minor))
                minor += 1
    return "\n".join(lines) + "\n"


def h100(index, mig=False, minor=None):
    return GpuDevice(
        index=index,
        uuid="GPU-%08x-1d2c-4f8e-9a7b-5c6d7e8f9%03d" % (0x7A3E0000 + index, index),
        name="NVIDIA H100 80GB HBM3",
        pci_bus_id="00000000:%s:00.0" % H100_PCI_BUS_IDS[index],
        pci_device_id=0x233010DE,
        architecture=9,
        module_id=index + 1,
        minor=index if minor is None else minor,
        memory_mb=81559,
        mig_current=mig,
        mig_pending=mig,
    )


def mig(gpu_index, mig_index, gi_id, ci_id, profile, memory_mb):
    return MigDevice(
        gpu_index=gpu_index,
        mig_index=mig_index,
        uuid="MIG-%d%d%06x-5e6f-5a0b-8c1d-2e3f4a5b6c7d" % (gpu_index, mig_index, gi_id * 16 + ci_id),
        gi_id=gi_id,
        ci_id=ci_id,
        profile_name=profile,
        memory_mb=memory_mb,
    )


def dgx_h100_mixed():
    """GPU 0: 3g.40gb + 2g.20gb + two 1g.10gb; GPU 1: one 4g.40gb split into two 2c CIs;
    GPU 2: MIG mode with no instances; GPUs 3-7 full GPUs."""
    gpus = [h100(i, mig=i < 3) for i in range(8)]
    migs = [
        mig(0, 0, 2, 0, "3g.40gb", 40192),
        mig(0, 1, 3, 0, "2g.20gb", 19968),
        mig(0, 2, 9, 0, "1g.10gb", 9728),
        mig(0, 3, 10, 0, "1g.10gb", 9728),
        mig(1, 0, 1, 0, "2c.4g.40gb", 40192),
        mig(1, 1, 1, 1, "2c.4g.40gb", 40192),
    ]
    return gpus, migs


def dgx_h100_full():
    return [h100(i) for i in range(8)], []


def official_schema_validator():
    """Validator for the official CDI schema (defs.json registered under the URI
    "defs.json", as schema.json refers to it), or None when the reference copy is absent."""
    schema_file, defs_file = SCHEMA_DIR / "schema.json", SCHEMA_DIR / "defs.json"
    if not (schema_file.exists() and defs_file.exists()):
        return None
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    defs = Resource.from_contents(json.loads(defs_file.read_text()), default_specification=DRAFT7)
    registry = Registry().with_resource("defs.json", defs)
    return Draft7Validator(json.loads(schema_file.read_text()), registry=registry)


CAPTURE_VERSION = "580.159.04"
CAPTURE_ROOT = "/usr/local/nvidia"
CAPTURE_FILES = Path(__file__).resolve().parent / "data" / "h200-580.159.04-driver-files.txt"


def capture_driver_root(base):
    """The driver root of the captured H200 (driver 580.159.04 under /usr/local/nvidia),
    rebuilt under ``base`` from its file list: every file (a placeholder, not ELF, so
    SONAMEs come from the installer's links) and every link with its real target.
    Returns the new driver root."""
    root = Path(base) / CAPTURE_ROOT.lstrip("/")
    for line in CAPTURE_FILES.read_text().splitlines():
        fields = line.split()
        path = root / fields[0][len(CAPTURE_ROOT) + 1:]
        path.parent.mkdir(parents=True, exist_ok=True)
        if fields[1] == "l":
            path.symlink_to(fields[2])
        else:
            path.write_bytes(b"placeholder for a %s-byte driver file\n" % fields[2].encode())
            path.chmod(0o755 if "/bin/" in fields[0] else 0o644)
    return str(root)


def capture_driver(base):
    """The captured H200's driver files as discovery finds them, with host paths shown
    under /usr/local/nvidia (where they were) instead of ``base``."""
    from ansible_collections.gpuops.mig.plugins.module_utils._cdi_driver import discover

    root = capture_driver_root(base)

    def rebased(path):
        return CAPTURE_ROOT + path[len(root):]

    driver = discover(root, CAPTURE_VERSION)
    return driver._replace(
        root=CAPTURE_ROOT,
        libraries=[library._replace(host_path=rebased(library.host_path)) for library in driver.libraries],
        binaries=[(name, rebased(path)) for name, path in driver.binaries],
        firmware=[(relative, rebased(path)) for relative, path in driver.firmware],
        ipc=[(container, rebased(path)) for container, path in driver.ipc],
    )
