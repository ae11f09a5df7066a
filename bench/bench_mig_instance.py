"""Benchmarks of gpuops.mig.mig_instance, measured in one run and printed side by side.

1. A no-change mig_instance task on a simulated 8-GPU host (DGX H100, every GPU with four
   instances) against ansible.builtin.ping. Per-task time = (time of a play looping the
   task 1 + N times - time of the same play with 1 iteration) / N, so playbook start-up
   cancels out; each play time is the best of 3. Target (issue 12): ratio <= 1.2.
2. Reconfiguring 8 GPUs against 1 GPU of a simulated DGX H100 with the simulator's
   ``realistic`` latency model (the engine through the real NVML path, in process).
   Target: ratio <= 1.3 (GPUs run in parallel).
3. Mutating NVML calls made by a no-change run (the simulator's counter). Target: 0.

Run from the repository root: ``.venv/bin/python bench/bench_mig_instance.py`` (``make
bench`` does it after ``make install``). Timings vary with the machine; the ratios are
what to compare.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV_ROOT = os.path.join(REPO, "build", "dev")
LAYOUT = ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]
REPEATS = 8
ROUNDS = 3


def _dev_tree():
    """build/dev/ansible_collections/gpuops/mig -> this checkout (as tests/conftest.py does)."""
    link = os.path.join(DEV_ROOT, "ansible_collections", "gpuops", "mig")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    for package in (os.path.join(DEV_ROOT, "ansible_collections"), os.path.dirname(link)):
        open(os.path.join(package, "__init__.py"), "a").close()
    sys.path.insert(0, DEV_ROOT)


_dev_tree()

from ansible_collections.gpuops.mig.plugins.module_utils import _reconcile  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._desired import desired_state  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host  # noqa: E402

PLAY = """\
- name: Bench
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The task under test
      {task}
      loop: "{{{{ range({count}) | list }}}}"
"""


def _enabled_host(path, latency=None):
    simulated_host.create_host(path, "dgx-h100", latency=latency)
    with Hardware(simulator=path) as hardware:
        for device in hardware.devices():
            hardware.set_mig_mode(device.index, True)
    return path


def _apply(path, gpus=None):
    with Hardware(simulator=path) as hardware:
        desired = desired_state({"state": "present", "layout": LAYOUT}, hardware, hardware.select(gpus))
        return _reconcile.InstanceChange(hardware, desired).run()


def _mutating_calls(path):
    return sum(simulated_host.describe_host(path)["mutating_calls"].values())


def _play_seconds(workdir, task, count):
    playbook = os.path.join(workdir, "bench.yml")
    with open(playbook, "w") as handle:
        handle.write(PLAY.format(task=task, count=count))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=DEV_ROOT, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    env.pop("GPUOPS_MIG_SIMULATOR", None)
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    started = time.time()
    completed = subprocess.run([binary, playbook, "-i", "localhost,", "-c", "local"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    elapsed = time.time() - started
    if completed.returncode != 0 or "changed=0" not in completed.stdout:
        raise SystemExit("benchmark play failed or changed something:\n" + completed.stdout)
    return elapsed


def _per_task(workdir, task):
    """Seconds one more task adds to a play; best of ROUNDS so other load on the machine
    counts as little as possible."""
    long_play = min(_play_seconds(workdir, task, 1 + REPEATS) for _round in range(ROUNDS))
    short_play = min(_play_seconds(workdir, task, 1) for _round in range(ROUNDS))
    return (long_play - short_play) / REPEATS


def main():
    workdir = tempfile.mkdtemp(prefix="gpuops-bench-")
    no_change = _enabled_host(os.path.join(workdir, "no-change.json"))
    _apply(no_change)
    task = "gpuops.mig.mig_instance: {simulator: %s, layout: %s}" % (no_change, json.dumps(LAYOUT))
    calls_before = _mutating_calls(no_change)
    mig_instance_seconds = _per_task(workdir, task)
    calls_made = _mutating_calls(no_change) - calls_before
    ping_seconds = _per_task(workdir, "ansible.builtin.ping:")

    timings = {}
    for gpus in (["0"], None):
        path = _enabled_host(os.path.join(workdir, "realistic-%s.json" % ("1" if gpus else "8")), latency="realistic")
        started = time.time()
        result = _apply(path, gpus)
        timings[1 if gpus else 8] = time.time() - started
        assert result["changed"] and len(result["mig_devices"]) == (4 if gpus else 32)

    print("gpuops.mig.mig_instance benchmarks (simulated DGX H100, 8 GPUs)")
    print("%-58s %10s %10s %8s %8s" % ("measure", "value", "baseline", "ratio", "target"))
    print("%-58s %9.3fs %9.3fs %8.2f %8s" % ("no-change mig_instance task vs ansible.builtin.ping", mig_instance_seconds,
                                             ping_seconds, mig_instance_seconds / ping_seconds, "<= 1.2"))
    print("%-58s %9.3fs %9.3fs %8.2f %8s" % ("reconfigure 8 GPUs vs 1 GPU (realistic latency)", timings[8], timings[1],
                                             timings[8] / timings[1], "<= 1.3"))
    runs = ROUNDS * (1 + REPEATS + 1)
    print("%-58s %10d %10s %8s %8s" % ("mutating NVML calls of %d no-change runs" % runs, calls_made, "-", "-", "0"))


if __name__ == "__main__":
    main()
