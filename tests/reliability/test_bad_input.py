"""Bad input: every malformed input fails before anything changes.

Each case runs one module in-process against a fresh simulated host and asserts:
the module fails without a traceback; the message names the option and what would be
valid; every file of the host (state file, device tree, driver files) and of the work
directory is byte-identical afterwards; no journal was written.

The roles of the collection do not exist yet, so role variables are not in the battery.
"""

import collections
import os
from pathlib import Path

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_support import journal_path, make_host, run_module, tree_snapshot

#: ``args(ctx)`` builds the module arguments; ``option`` must appear in the message, and so
#: must every string of ``valid`` (the valid choices, or the rule a value must follow).
Case = collections.namedtuple("Case", ["id", "module", "host", "args", "option", "valid"])

H100_ALL_PROFILES = ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]
H100_GPUS = ["0 (GPU-", "00000000:18:00.0", "7 (GPU-"]

MIG_PARTED_OK = "version: v1\nmig-configs:\n  small:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n        1g.10gb: 2\n"


def _mig_parted(text, name=None):
    """Arguments naming a mig-parted file with ``text`` (written into the work dir)."""

    def build(ctx):
        path = ctx.work / "config.yaml"
        path.write_text(text)
        option = {"file": str(path)}
        if name is not None:
            option["name"] = name
        return {"simulator": ctx.sim, "mig_parted_config": option}

    return build


def _fifo(path):
    os.mkfifo(str(path))
    return str(path)


def _sim(**args):
    return lambda ctx: dict(args, simulator=ctx.sim)


def _plan(fleet_of, **args):
    """mig_plan arguments; ``fleet_of(inventory)`` builds the fleet from a real gpu_info result."""
    return lambda ctx: dict(args, fleet=fleet_of(ctx.inventory()))


#: 497 bytes whose aliases expand to 10**9 nodes.
ALIAS_BOMB = (
    "version: v1\n"
    + "".join("b%d: &b%d [%s]\n" % (n, n, ", ".join(["*b%d" % (n - 1)] * 9) if n else '"x"') for n in range(10))
    + "mig-configs:\n  small:\n    - devices: all\n      mig-enabled: true\n      mig-devices: *b9\n"
)

CASES = [
    # ------------------------------------------------------------------ simulated_host
    Case("sh-unknown-preset", "simulated_host", None, lambda c: {"path": str(c.work / "new.json"), "preset": "dgx-h1000"},
         "preset", ["dgx-h100", "gh200", "rtx-pro-6000-x4"]),
    Case("sh-preset-missing", "simulated_host", None, lambda c: {"path": str(c.work / "new.json")}, "preset", ["dgx-h100", "a30-x4"]),
    Case("sh-preset-change", "simulated_host", "h100", lambda c: {"path": c.sim, "preset": "dgx-a100"}, "preset", ["dgx-h100"]),
    Case("sh-fabric-mode-unknown", "simulated_host", "h100", lambda c: {"path": c.sim, "fabric_mode": "7"},
         "fabric_mode", ["bare_metal", "shared_nvswitch", "vgpu"]),
    Case("sh-fabric-mode-without-nvswitch", "simulated_host", "a30", lambda c: {"path": c.sim, "fabric_mode": "vgpu"},
         "fabric_mode", ["no NVSwitch"]),
    Case("sh-fault-unknown-function", "simulated_host", "h100",
         lambda c: {"path": c.sim, "faults": [{"function": "nvmlDeviceExplode", "error": "NVML_ERROR_IN_USE"}]},
         "faults.function", ["nvmlDeviceSetMigMode", "nvmlGpuInstanceDestroy"]),
    Case("sh-fault-unknown-error", "simulated_host", "h100",
         lambda c: {"path": c.sim, "faults": [{"function": "nvmlDeviceSetMigMode", "error": "IN_USE"}]},
         "faults.error", ["NVML_ERROR_IN_USE", "NVML_ERROR_GPU_IS_LOST"]),
    Case("sh-fault-call-zero", "simulated_host", "h100",
         lambda c: {"path": c.sim, "faults": [{"function": "nvmlDeviceSetMigMode", "error": "NVML_ERROR_IN_USE", "call": 0}]},
         "faults.call", [">= 1"]),
    Case("sh-fault-gpu-missing", "simulated_host", "h100",
         lambda c: {"path": c.sim, "faults": [{"function": "nvmlDeviceSetMigMode", "error": "NVML_ERROR_IN_USE", "gpu": 8}]},
         "faults.gpu", ["0, 1, 2, 3, 4, 5, 6, 7"]),
    Case("sh-fault-unknown-key", "simulated_host", "h100",
         lambda c: {"path": c.sim, "faults": [{"function": "nvmlDeviceSetMigMode", "error": "NVML_ERROR_IN_USE", "when": "now"}]},
         "faults", ["function", "persistent"]),
    Case("sh-process-on-missing-instance", "simulated_host", "h100",
         lambda c: {"path": c.sim, "processes": [{"pid": 4242, "gpu": 0, "gi_id": 99}]}, "processes.gi_id", ["no such GPU instance"]),
    Case("sh-process-negative-pid", "simulated_host", "h100", lambda c: {"path": c.sim, "processes": [{"pid": -1, "gpu": 0}]},
         "processes.pid", ["positive integer"]),
    Case("sh-latency-unknown-word", "simulated_host", "h100", lambda c: {"path": c.sim, "latency": "fast"}, "latency", ["realistic"]),
    Case("sh-latency-negative", "simulated_host", "h100", lambda c: {"path": c.sim, "latency": {"default": -0.5}},
         "latency.default", [">= 0"]),
    Case("sh-unit-on-missing-gpu", "simulated_host", "h100", lambda c: {"path": c.sim, "units": {"dcgm": {"gpus": [9]}}},
         "units.dcgm.gpus", ["0, 1, 2, 3, 4, 5, 6, 7"]),
    Case("sh-reset-supported-wrong-type", "simulated_host", "h100", lambda c: {"path": c.sim, "reset_supported": "perhaps"},
         "reset_supported", ["Valid booleans"]),
    Case("sh-path-is-not-a-host", "simulated_host", None, lambda c: {"path": c.file("inventory.json", '{"hosts": []}\n')},
         "path", ["simulated host"]),
    # ------------------------------------------------------------------ gpu_info
    Case("gi-gpu-index-missing", "gpu_info", "h100", _sim(gpus=["9"]), "gpus", H100_GPUS),
    Case("gi-gpu-uuid-missing", "gpu_info", "h100", _sim(gpus=["GPU-00000000-0000-0000-0000-000000000000"]), "gpus", H100_GPUS),
    Case("gi-gpu-bus-id-missing", "gpu_info", "h100", _sim(gpus=["0000:99:00.0"]), "gpus", H100_GPUS),
    Case("gi-negative-gpu-index", "gpu_info", "h100", _sim(gpus=["-1"]), "gpus", H100_GPUS),
    Case("gi-device-filter-malformed", "gpu_info", "h100", _sim(device_filter=["H100"]), "device_filter", ["0x233010DE"]),
    Case("gi-feature-gate-unknown", "gpu_info", "h100", _sim(feature_gates={"AutoEnableMIG": True}),
         "feature_gates", ["AutoEnableMig", "ParallelReconfigure"]),
    Case("gi-feature-gate-wrong-type", "gpu_info", "h100", _sim(feature_gates={"ParallelReconfigure": "sometimes"}),
         "feature_gates.ParallelReconfigure", ["True", "False"]),
    Case("gi-fabric-wrong-type", "gpu_info", "h100", _sim(fabric="maybe"), "fabric", ["Valid booleans"]),
    Case("gi-unknown-option", "gpu_info", "h100", _sim(profile="1g.10gb"), "profile", ["device_filter", "fabric", "gpus"]),
    Case("gi-simulator-missing", "gpu_info", None, lambda c: {"simulator": str(c.work / "nowhere.json")}, "simulator", ["does not exist"]),
    Case("gi-simulator-is-not-a-host", "gpu_info", None, lambda c: {"simulator": c.file("inventory.json", '{"hosts": []}\n')},
         "simulator", ["simulated host"]),
    # ------------------------------------------------------------------ mig_mode
    Case("mm-state-missing", "mig_mode", "h100-off", _sim(), "state", []),
    Case("mm-state-unknown", "mig_mode", "h100-off", _sim(state="on"), "state", ["enabled", "disabled"]),
    Case("mm-reset-unknown", "mig_mode", "a100-off", _sim(state="enabled", reset="sometimes"), "reset", ["auto", "always", "never"]),
    Case("mm-force-wrong-type", "mig_mode", "h100-off", _sim(state="enabled", force="perhaps"), "force", ["Valid booleans"]),
    Case("mm-gpu-missing", "mig_mode", "h100-off", _sim(state="enabled", gpus=["0", "12"]), "gpus", H100_GPUS),
    Case("mm-lock-timeout-negative", "mig_mode", "h100-off", _sim(state="enabled", lock_timeout=-1), "lock_timeout", [">= 0"]),
    Case("mm-lock-timeout-wrong-type", "mig_mode", "h100-off", _sim(state="enabled", lock_timeout="soon"), "lock_timeout", ["float"]),
    Case("mm-gpu-clients-wrong-type", "mig_mode", "h100-off", _sim(state="enabled", gpu_clients={"dcgm": True}),
         "gpu_clients", ["list"]),
    Case("mm-gpu-client-not-a-unit-name", "mig_mode", "a100-held", _sim(state="disabled", gpu_clients=["nvidia dcgm; reboot"]),
         "gpu_clients", ["systemd unit name"]),
    Case("mm-gpu-client-looks-like-an-option", "mig_mode", "a100-held", _sim(state="disabled", gpu_clients=["--root=/tmp"]),
         "gpu_clients", ["not starting with '-'"]),
    # ------------------------------------------------------------------ mig_instance
    Case("mi-unknown-profile", "mig_instance", "h100", _sim(gpus=["0"], layout=["4g.99gb"]), "layout[0]", H100_ALL_PROFILES),
    Case("mi-profile-of-another-board", "mig_instance", "h100", _sim(gpus=["0"], layout=["3g.40gb", "1g.5gb"]), "layout[1]",
         H100_ALL_PROFILES),
    Case("mi-profile-of-another-board-rtx", "mig_instance", "rtx", _sim(gpus=["0"], layout=["1g.10gb"]), "layout[0]",
         ["1g.24gb", "2g.48gb", "4g.96gb"]),
    Case("mi-malformed-profile-name", "mig_instance", "h100", _sim(gpus=["0"], layout=["one-g"]), "layout[0]", ["1g.10gb"]),
    Case("mi-too-many-instances", "mig_instance", "h100", _sim(gpus=["0"], layout=["1g.10gb"] * 8), "layout", ["at most 7"]),
    Case("mi-instances-that-do-not-fit", "mig_instance", "h100", _sim(gpus=["0"], layout=["4g.40gb", "4g.40gb"]), "layout",
         ["at most 1"]),
    Case("mi-two-media-engine-instances", "mig_instance", "h100", _sim(gpus=["0"], layout=["1g.10gb+me", "1g.10gb+me"]), "layout",
         ["at most 1"]),
    Case("mi-exclusive-media-variants-rtx", "mig_instance", "rtx", _sim(gpus=["0"], layout=["1g.24gb+me", "1g.24gb+me.all"]),
         "layout", ["+me", "+me.all"]),
    Case("mi-placement-off-the-grid", "mig_instance", "h100", _sim(gpus=["0"], layout=[{"profile": "3g.40gb", "placement": 2}]),
         "layout[0].placement", ["0:4", "4:4"]),
    Case("mi-placement-beyond-the-grid", "mig_instance", "h100", _sim(gpus=["0"], layout=[{"profile": "1g.10gb", "placement": 9}]),
         "layout[0].placement", ["0:1", "6:1"]),
    Case("mi-placement-wrong-size", "mig_instance", "h100", _sim(gpus=["0"], layout=[{"profile": "1g.10gb", "placement": "0:2"}]),
         "layout[0].placement", ["0:1", "6:1"]),
    Case("mi-placement-off-the-12-slot-grid", "mig_instance", "rtx",
         _sim(gpus=["0"], layout=[{"profile": "1g.24gb", "placement": {"start": 1, "size": 3}}]),
         "layout[0].placement", ["0:3", "3:3", "6:3", "9:3"]),
    Case("mi-placement-malformed", "mig_instance", "h100", _sim(gpus=["0"], layout=[{"profile": "1g.10gb", "placement": "left"}]),
         "layout[0].placement", ["start:size", "0:1"]),
    Case("mi-placement-with-count", "mig_instance", "h100",
         _sim(gpus=["0"], layout=[{"profile": "1g.10gb", "count": 2, "placement": 0}]), "layout[0].placement", ["count is 2"]),
    Case("mi-compute-instance-too-big", "mig_instance", "h100",
         _sim(gpus=["0"], layout=[{"profile": "3g.40gb", "compute_instances": ["4c"]}]), "4c", ["3g.40gb has (3)"]),
    Case("mi-compute-instance-malformed", "mig_instance", "h100",
         _sim(gpus=["0"], layout=[{"profile": "3g.40gb", "compute_instances": ["1x"]}]), "layout[0].compute_instances",
         ["2c.4g.40gb"]),
    Case("mi-compute-name-with-compute-instances", "mig_instance", "h100",
         _sim(gpus=["0"], layout=[{"profile": "1c.3g.40gb", "compute_instances": ["1c"]}]), "layout[0].profile", ["3g.40gb"]),
    Case("mi-layout-entry-unknown-key", "mig_instance", "h100", _sim(gpus=["0"], layout=[{"profile": "1g.10gb", "colour": "red"}]),
         "layout[0].colour", ["profile", "count", "placement", "compute_instances"]),
    Case("mi-layout-entry-wrong-type", "mig_instance", "h100", _sim(gpus=["0"], layout=[["1g.10gb"]]), "layout[0]",
         ["profile", "count"]),
    Case("mi-count-negative", "mig_instance", "h100", _sim(gpus=["0"], layout=[{"profile": "1g.10gb", "count": -1}]),
         "layout[0].count", [">= 0"]),
    Case("mi-count-wrong-type", "mig_instance", "h100", _sim(gpus=["0"], layout=[{"profile": "1g.10gb", "count": "two"}]),
         "layout[0].count", [">= 0"]),
    Case("mi-layout-and-requirements", "mig_instance", "h100", _sim(layout=["1g.10gb"], requirements=[{"memory_gb": 10}]),
         "requirements", ["layout", "at most one"]),
    Case("mi-absent-with-layout", "mig_instance", "h100", _sim(state="absent", layout=["1g.10gb"]), "layout", ["state=absent"]),
    Case("mi-present-without-desired-state", "mig_instance", "h100", _sim(), "layout", ["requirements", "mig_parted_config"]),
    Case("mi-requirement-too-large", "mig_instance", "h100", _sim(gpus=["0"], requirements=[{"memory_gb": 1000}]),
         "requirements[0]", ["7g.80gb"]),
    Case("mi-requirement-unknown-key", "mig_instance", "h100", _sim(requirements=[{"colour": "red"}]), "requirements[0]",
         ["memory_gb", "compute_slices", "media_engines", "count"]),
    Case("mi-requirement-negative", "mig_instance", "h100", _sim(requirements=[{"compute_slices": -1}]),
         "requirements[0].compute_slices", [">= 1"]),
    Case("mi-disruption-unknown", "mig_instance", "h100", _sim(layout=["1g.10gb"], disruption="chaos"), "disruption",
         ["minimal", "recreate"]),
    Case("mi-fabric-aware-without-gate", "mig_instance", "h100", _sim(layout=["1g.10gb"], placement_strategy="fabric-aware"),
         "placement_strategy", ["best-fit", "balanced", "FabricAwarePlacement"]),
    Case("mi-placement-strategy-unknown", "mig_instance", "h100", _sim(layout=["1g.10gb"], placement_strategy="random"),
         "placement_strategy", ["best-fit", "balanced", "fabric-aware"]),
    Case("mi-sharing-strategy-unknown", "mig_instance", "h100", _sim(layout=["1g.10gb"], sharing_strategy="shared"),
         "sharing_strategy", ["none", "time-slicing", "mps"]),
    Case("mi-parallel-zero", "mig_instance", "h100", _sim(layout=["1g.10gb"], parallel=0), "parallel", ["at least 1"]),
    Case("mi-lock-timeout-negative", "mig_instance", "h100", _sim(layout=["1g.10gb"], lock_timeout=-5), "lock_timeout", [">= 0"]),
    Case("mi-gpu-missing", "mig_instance", "h100", _sim(layout=["1g.10gb"], gpus=["8"]), "gpus", H100_GPUS),
    Case("mi-device-filter-malformed", "mig_instance", "h100", _sim(layout=["1g.10gb"], device_filter=["0x2330"]), "device_filter",
         ["0x233010DE"]),
    Case("mp-yaml-invalid", "mig_instance", "h100", _mig_parted("version: v1\nmig-configs: [unclosed\n"), "mig-parted config",
         ["not valid YAML"]),
    Case("mp-version-missing", "mig_instance", "h100", _mig_parted("mig-configs:\n  a:\n    - devices: all\n      mig-enabled: false\n"),
         "version", ["v1"]),
    Case("mp-version-unknown", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK.replace("v1", "v9")), "version", ["v1"]),
    Case("mp-config-name-unknown", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK, name="large"), "large", ["small"]),
    Case("mp-several-configs-unnamed", "mig_instance", "h100",
         _mig_parted(MIG_PARTED_OK + "  none:\n    - devices: all\n      mig-enabled: false\n"), "name", ["none", "small"]),
    Case("mp-unknown-profile", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK.replace("1g.10gb", "9g.99gb")), "9g.99gb",
         H100_ALL_PROFILES),
    Case("mp-profile-of-another-board", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK.replace("1g.10gb", "1g.5gb")), "1g.5gb",
         H100_ALL_PROFILES),
    Case("mp-mig-enabled-not-bool", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK.replace("mig-enabled: true", "mig-enabled: sure")),
         "mig-enabled", ["true", "false"]),
    Case("mp-device-filter-malformed", "mig_instance", "h100",
         _mig_parted(MIG_PARTED_OK.replace("    - devices: all", "    - device-filter: H100\n      devices: all")), "device-filter",
         ["0x"]),
    Case("mp-device-index-negative", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK.replace("devices: all", "devices: [-1]")),
         "devices", ["all"]),
    Case("mp-unknown-field", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK.replace("mig-devices:", "mig-devicez:")), "mig-devicez",
         ["mig-devices", "device-filter"]),
    Case("mp-profile-spelled-twice", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK + "        MIG 1g.10gb: 3\n"), "listed twice",
         ["1g.10gb"]),
    Case("mp-does-not-fit", "mig_instance", "h100",
         _mig_parted(MIG_PARTED_OK.replace("1g.10gb: 2", "4g.40gb: 1\n        3g.40gb: 1\n        1g.10gb: 1")), "mig-devices",
         ["GPU 0 (NVIDIA H100 80GB HBM3", "needs 9 memory slots but the GPU has 8"]),
    Case("mp-alias-bomb", "mig_instance", "h100", _mig_parted(ALIAS_BOMB), "mig-parted config",
         ["aliases expand it to more than 100000 YAML nodes"]),
    Case("mp-fifo", "mig_instance", "h100", lambda c: {"simulator": c.sim, "mig_parted_config": {"file": _fifo(c.work / "config.yaml")}},
         "mig-parted config", ["not a regular file (a FIFO)"]),
    Case("mp-dev-zero", "mig_instance", "h100", lambda c: {"simulator": c.sim, "mig_parted_config": {"file": "/dev/zero"}},
         "mig-parted config /dev/zero", ["not a regular file (a character device)"]),
    Case("mp-too-large", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK + "#" * (1 << 20) + "\n"), "mig-parted config",
         ["larger than 1048576 bytes"]),
    Case("mp-overlapping-entries", "mig_instance", "h100",
         _mig_parted(MIG_PARTED_OK + "    - devices: [0]\n      mig-enabled: false\n"), "devices", ["overlap"]),
    Case("mp-count-negative", "mig_instance", "h100", _mig_parted(MIG_PARTED_OK.replace("1g.10gb: 2", "1g.10gb: -2")), "1g.10gb",
         ["count"]),
    Case("mp-file-missing", "mig_instance", "h100", lambda c: {"simulator": c.sim, "mig_parted_config": {"file": str(c.work / "no.yaml")}},
         "mig-parted config", ["cannot read the file"]),
    Case("mp-unknown-suboption", "mig_instance", "h100",
         lambda c: {"simulator": c.sim, "mig_parted_config": {"file": str(c.work / "x.yaml"), "colour": "red"}},
         "mig_parted_config.colour", ["file", "name"]),
    # ------------------------------------------------------------------ cdi_spec
    Case("cdi-path-extension", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "nvidia.txt")}, "path",
         [".yaml", ".yml", ".json"]),
    Case("cdi-path-relative", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": "cdi/nvidia.yaml"}, "path", ["absolute"]),
    Case("cdi-absent-on-a-file-that-is-not-a-spec", "cdi_spec", None,
         lambda c: {"path": c.file("hosts", "127.0.0.1 localhost\n"), "state": "absent"}, "path", [".yaml", ".json"]),
    Case("cdi-kind-without-class", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "kind": "nvidia.com"},
         "kind", ["vendor/class", "nvidia.com/gpu"]),
    Case("cdi-kind-bad-vendor", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "kind": "-x/gpu"},
         "kind", ["start with a letter"]),
    Case("cdi-name-strategy-unknown", "cdi_spec", "a30-off",
         lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "device_name_strategies": ["serial"]},
         "device_name_strategies", ["index", "uuid", "type-index"]),
    Case("cdi-mode-not-octal", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "mode": "0999"},
         "mode", ["0644"]),
    Case("cdi-mode-symbolic", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "mode": "u=rw,go=r"},
         "mode", ["0644"]),
    Case("cdi-mode-out-of-range", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "mode": 0o17777},
         "mode", ["7777"]),
    Case("cdi-mode-world-writable", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "mode": "0666"},
         "mode", ["0644"]),
    Case("cdi-state-unknown", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "state": "gone"},
         "state", ["present", "absent"]),
    Case("cdi-gpu-missing", "cdi_spec", "a30-off", lambda c: {"simulator": c.sim, "path": str(c.work / "a.yaml"), "gpus": ["4"]},
         "gpus", ["0 (GPU-", "3 (GPU-"]),
    # ------------------------------------------------------------------ fabric_partition
    Case("fp-partition-unknown", "fabric_partition", "h100", _sim(partition_id=99), "partition_id", ["0, 1, 2, 3", "14"]),
    Case("fp-partition-negative", "fabric_partition", "h100", _sim(partition_id=-1), "partition_id", ["0, 1, 2, 3"]),
    Case("fp-partition-wrong-type", "fabric_partition", "h100", _sim(partition_id="three"), "partition_id", ["int"]),
    Case("fp-gpus-no-partition", "fabric_partition", "h100", _sim(gpus=["0", "1"]), "gpus", ["3 (GPUs 0, 2)", "4 (GPUs 1, 3)"]),
    Case("fp-gpu-missing", "fabric_partition", "h100", _sim(gpus=["0", "12"]), "gpus", H100_GPUS),
    Case("fp-partition-and-gpus", "fabric_partition", "h100", _sim(partition_id=3, gpus=["0", "2"]), "partition_id|gpus", []),
    Case("fp-activate-without-target", "fabric_partition", "h100", _sim(state="activated"), "partition_id", ["gpus"]),
    Case("fp-restored-without-list", "fabric_partition", "h100", _sim(state="restored"), "activated_partitions", []),
    Case("fp-restored-unknown-id", "fabric_partition", "h100", _sim(state="restored", activated_partitions=[99]),
         "activated_partitions", ["0 to 63"]),
    Case("fp-activated-partitions-out-of-place", "fabric_partition", "h100", _sim(partition_id=3, activated_partitions=[3]),
         "activated_partitions", ["state=restored"]),
    Case("fp-vf-malformed", "fabric_partition", "h100-vgpu", _sim(partition_id=3, vfs=["zz:00.4", "3a:00.4"]), "vfs",
         ["0000:3b:00.4", "3b:00.4"]),
    Case("fp-vfs-in-shared-mode", "fabric_partition", "h100", _sim(partition_id=3, vfs=["0000:18:00.4", "0000:3a:00.4"]), "vfs",
         ["FABRIC_MODE=2"]),
    Case("fp-vfs-count-mismatch", "fabric_partition", "h100-vgpu", _sim(partition_id=3, vfs=["0000:18:00.4"]), "vfs",
         ["one VF per GPU"]),
    Case("fp-backend-unknown", "fabric_partition", "h100", _sim(partition_id=3, fm_backend="dbus"), "fm_backend",
         ["auto", "libnvfm", "fmpm"]),
    Case("fp-address-and-socket", "fabric_partition", "h100", _sim(partition_id=3, fm_address="127.0.0.1", fm_unix_socket="/run/fm.sock"),
         "fm_address|fm_unix_socket", []),
    Case("fp-address-malformed", "fabric_partition", "h100", _sim(partition_id=3, fm_address="fm-host:notaport"), "fm_address",
         ["host:port"]),
    # ------------------------------------------------------------------ mig_plan
    Case("plan-fleet-not-a-mapping", "mig_plan", None, lambda c: {"fleet": "h1", "demand": [{"profile": "1g.10gb"}]}, "fleet", ["dict"]),
    Case("plan-fleet-empty", "mig_plan", None, lambda c: {"fleet": {}, "demand": [{"profile": "1g.10gb"}]}, "fleet", ["gpu_info result"]),
    Case("plan-fleet-failed-result", "mig_plan", None, lambda c: {"fleet": {"h1": {"failed": True, "msg": "x"}}, "demand": [{"profile": "1g.10gb"}]},
         "fleet.h1", ["gpus"]),
    Case("plan-fleet-malformed-gpu", "mig_plan", None, lambda c: {"fleet": {"h1": {"gpus": [{"index": 0}]}}, "demand": [{"profile": "1g.10gb"}]},
         "fleet.h1.gpus[0]", ["capabilities"]),
    Case("plan-demand-profile-and-requirements", "mig_plan", "h100",
         _plan(lambda inventory: {"h1": inventory}, demand=[{"profile": "1g.10gb", "requirements": {"memory_gb": 5}}]),
         "profile|requirements", []),
    Case("plan-demand-neither", "mig_plan", "h100", _plan(lambda inventory: {"h1": inventory}, demand=[{"count": 2}]),
         "profile, requirements", []),
    Case("plan-demand-count-zero", "mig_plan", "h100", _plan(lambda inventory: {"h1": inventory}, demand=[{"profile": "1g.10gb", "count": 0}]),
         "demand[0].count", [">= 1"]),
    Case("plan-demand-malformed-profile", "mig_plan", "h100", _plan(lambda inventory: {"h1": inventory}, demand=[{"profile": "banana"}]),
         "demand[0].profile", ["1g.10gb"]),
    Case("plan-requirement-negative", "mig_plan", "h100",
         _plan(lambda inventory: {"h1": inventory}, demand=[{"requirements": {"memory_gb": -5}}]), "demand[0].requirements.memory_gb",
         [">= 0"]),
    Case("plan-requirement-unknown-key", "mig_plan", "h100",
         _plan(lambda inventory: {"h1": inventory}, demand=[{"requirements": {"colour": "red"}}]), "colour",
         ["compute_slices", "media_engines", "memory_gb"]),
    Case("plan-strategy-unknown", "mig_plan", "h100",
         _plan(lambda inventory: {"h1": inventory}, demand=[{"profile": "1g.10gb"}], placement_strategy="random"),
         "placement_strategy", ["best-fit", "balanced", "fabric-aware"]),
    Case("plan-sharing-unknown", "mig_plan", "h100",
         _plan(lambda inventory: {"h1": inventory}, demand=[{"profile": "1g.10gb"}], sharing_strategy="shared"),
         "sharing_strategy", ["none", "time-slicing", "mps"]),
]

#: Hosts the cases run against (preset, MIG on, simulated host options, extra setup).
HOSTS = {
    "h100": ("dgx-h100", True, {"fabric_mode": 1}),
    "h100-vgpu": ("dgx-h100", True, {"fabric_mode": 2}),
    "h100-off": ("dgx-h100", False, {}),
    "a100-off": ("dgx-a100", False, {}),
    "a100-held": ("dgx-a100", True, {}),
    "rtx": ("rtx-pro-6000-x4", True, {}),
    "a30": ("a30-x4", True, {}),
    "a30-off": ("a30-x4", False, {}),
}


class Context(object):
    """What a case's ``args`` builder gets: the host, a work directory, helpers."""

    def __init__(self, sim, work):
        self.sim = sim
        self.work = work

    def file(self, name, text):
        path = self.work / name
        path.write_text(text)
        return str(path)

    def inventory(self):
        return run_module("gpu_info", {"simulator": self.sim})


def _prepare(tmp_path, case):
    hosts, work = tmp_path / "hosts", tmp_path / "work"
    hosts.mkdir()
    work.mkdir()
    sim = None
    if case.host:
        preset, mig, options = HOSTS[case.host]
        sim = make_host(hosts, preset, mig=mig, **options)
        if case.host == "h100":
            # Something to lose: instances on GPU 0 that a wrong run could destroy.
            assert not run_module("mig_instance", {"simulator": sim, "gpus": ["0"], "layout": ["3g.40gb", "1g.10gb"]}).get("failed")
        if case.host == "a100-held":
            # A GPU client service holds the GPUs: disabling MIG has to stop it first.
            simulated_host.update_host(sim, units={"nvidia-dcgm": {"active": True}})
    return Context(sim, work)


def test_the_battery_is_large_enough_and_covers_every_module():
    assert len(CASES) >= 60
    assert len(set(case.id for case in CASES)) == len(CASES)
    modules = set(path.stem for path in (Path(__file__).resolve().parents[2] / "plugins" / "modules").glob("*.py"))
    assert set(case.module for case in CASES) == modules


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_bad_input_fails_before_anything_changes(tmp_path, monkeypatch, case):
    context = _prepare(tmp_path, case)
    args = case.args(context)
    monkeypatch.chdir(context.work)
    before = tree_snapshot(tmp_path)
    result = run_module(case.module, args)
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") is True, result
    message = result["msg"]
    assert case.option in message, "option %r not named in: %s" % (case.option, message)
    missing = [valid for valid in case.valid if valid not in message]
    assert not missing, "valid choices %r not named in: %s" % (missing, message)
    assert tree_snapshot(tmp_path) == before
    if context.sim:
        assert not os.path.exists(journal_path(context.sim))
