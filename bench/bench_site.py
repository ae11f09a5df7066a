"""site.yml on a generated fleet of simulated hosts vs a ping playbook on the same inventory.

The fleet (default 128 hosts x 8 GPUs = 1,024 GPUs) is made of copies of the 8-GPU hosts of
inventories/simulated (DGX A100 and DGX H100 in passthrough, HGX H200 in vGPU mode, DGX B200
on bare metal, with their layouts, VMs and partitions), written to build/bench/ (not
committed). In one run it times:

1. site.yml from scratch (simulated hosts created, MIG enabled, instances, CDI specs,
   Fabric Manager modes and partitions);
2. site.yml again on the converged fleet (every change already made: the idempotent pass);
3. the converged pass once more with the play that creates the simulated hosts matching
   no host (``gpuops_mig_hosts='!all'``): what a fleet of real hosts runs, whose creation
   task is skipped (an extra row for reading the others, not a target of its own);
4. a playbook that only runs ansible.builtin.ping on every host, with the same forks,
   connection and interpreter: Ansible's own per-host cost;

and prints the wall times side by side with their ratio to the ping run. The runs leave
PYTHONUNBUFFERED out of the environment (--keep-unbuffered keeps it): on the local
connection the managed side's Python inherits the controller's environment, and with it
CPython reads a pipelined module from stdin one byte per read(2) call (0.1 to 0.3 s of CPU
per module run, ping's included), which a managed host reached over SSH does not do.
Runs 2 to 4 are repeated in interleaved rounds (--rounds, default 3) and the fastest of
each counts, as timeit does: a busy moment of the machine only slows a run down, and it
would otherwise move the ratio by 10% from one run of the bench to the next. Every host is on
the local connection, so the forks share this machine's cores with the controller.

Usage: .venv/bin/python bench/bench_site.py [--hosts 128] [--forks N]   (make bench runs it)
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE_INVENTORY = os.path.join(REPO, "inventories", "simulated")
WORK = os.path.join(REPO, "build", "bench")
GPUS_PER_HOST = 8
PING_PLAYBOOK = """---
- name: Ping every host
  hosts: all
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


def collections_root():
    for root in (os.path.join(REPO, "build", "collections"), os.path.join(REPO, "build", "dev")):
        if os.path.isdir(os.path.join(root, "ansible_collections", "gpuops", "mig")):
            return root
    sys.exit("build the collection first: make install (or run the tests once)")


def template_hosts():
    """[(group, host name, host vars)] of the template inventory's 8-GPU hosts."""
    with open(os.path.join(TEMPLATE_INVENTORY, "hosts.yml")) as stream:
        groups = yaml.safe_load(stream)["all"]["children"]
    from ansible_collections.gpuops.mig.plugins.module_utils._simulator.presets import PRESETS

    hosts = []
    for group in sorted(groups):
        for name in sorted(groups[group].get("hosts") or {}):
            with open(os.path.join(TEMPLATE_INVENTORY, "host_vars", name + ".yml")) as stream:
                host_vars = yaml.safe_load(stream)
            if len(PRESETS[host_vars["gpuops_mig_simulator_preset"]]["pci_bus_ids"]) == GPUS_PER_HOST:
                hosts.append((group, name, host_vars))
    return hosts


def write_inventory(count):
    """build/bench/inventory: ``count`` copies of the template hosts, round robin."""
    inventory = os.path.join(WORK, "inventory")
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(os.path.join(inventory, "host_vars"))
    shutil.copytree(os.path.join(TEMPLATE_INVENTORY, "group_vars"), os.path.join(inventory, "group_vars"))
    templates = template_hosts()
    groups = dict((group, {"hosts": {}}) for group in ("bare_metal", "passthrough", "sriov"))
    for number in range(count):
        group, name, host_vars = templates[number % len(templates)]
        host = "%s-%03d" % (name.rsplit("-", 1)[0], number)
        groups[group]["hosts"][host] = None
        with open(os.path.join(inventory, "host_vars", host + ".yml"), "w") as stream:
            yaml.safe_dump(host_vars, stream, sort_keys=False)
    with open(os.path.join(inventory, "hosts.yml"), "w") as stream:
        yaml.safe_dump({"all": {"children": groups}}, stream, sort_keys=False)
    with open(os.path.join(WORK, "ping.yml"), "w") as stream:
        stream.write(PING_PLAYBOOK)
    return (
        inventory,
        dict((group, len(members["hosts"])) for group, members in groups.items()),
        dict((group, sorted(members["hosts"])) for group, members in groups.items()),
    )


def run(label, playbook, inventory, forks, extra_vars, keep_unbuffered=False):
    log = os.path.join(WORK, label.replace(" ", "-") + ".log")
    command = [
        os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
        playbook,
        "-i",
        inventory,
        "--forks",
        str(forks),
        "-e",
        yaml.safe_dump(extra_vars, default_flow_style=True).strip(),
    ]
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=collections_root(),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_LOCALHOST_WARNING="false",
    )
    env.pop("GPUOPS_MIG_SIMULATOR", None)
    if not keep_unbuffered:
        env.pop("PYTHONUNBUFFERED", None)
    start = time.perf_counter()
    with open(log, "w") as output:
        code = subprocess.call(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    elapsed = time.perf_counter() - start
    with open(log) as output:
        recap = output.read().split("PLAY RECAP")[-1]
    totals = dict((key, sum(int(value) for value in re.findall(r"\b%s=(\d+)" % key, recap))) for key in ("ok", "changed", "failed", "unreachable"))
    if code != 0 or totals["failed"] or totals["unreachable"]:
        sys.exit("%s failed (exit %d, %s); see %s" % (label, code, totals, log))
    totals["per_host"] = dict((host, int(ok)) for host, ok in re.findall(r"^(\S+)\s+:\s+ok=(\d+)", recap, re.M))
    return elapsed, totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=128, help="simulated hosts of 8 GPUs (default 128)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each converged row and of ping, interleaved; the fastest counts (default 3)")
    parser.add_argument("--forks", type=int, default=2 * (os.cpu_count() or 1), help="ansible forks (default: twice the cores)")
    parser.add_argument("--keep-unbuffered", action="store_true", help="keep PYTHONUNBUFFERED in the runs' environment")
    arguments = parser.parse_args()
    sys.path.insert(0, collections_root())

    inventory, groups, members = write_inventory(arguments.hosts)
    fleet_vars = {"gpuops_mig_simulator_dir": os.path.join(WORK, "fleet")}
    print(
        "gpuops.mig site bench: %d simulated hosts (%s), %d GPUs, forks %d, %d cores, python %s, PYTHONUNBUFFERED %s"
        % (
            arguments.hosts,
            ", ".join("%s %d" % item for item in sorted(groups.items())),
            arguments.hosts * GPUS_PER_HOST,
            arguments.forks,
            os.cpu_count() or 1,
            sys.version.split()[0],
            "kept" if arguments.keep_unbuffered and "PYTHONUNBUFFERED" in os.environ else "unset",
        )
    )
    load_before = " ".join("%.2f" % value for value in os.getloadavg())
    site = os.path.join(REPO, "playbooks", "site.yml")
    repeated = (
        ("site.yml, converged", "site converged", site, fleet_vars),
        ("  same, no creation play", "site converged real", site, dict(fleet_vars, gpuops_mig_hosts="!all")),
        ("ping", "ping", os.path.join(WORK, "ping.yml"), fleet_vars),
    )
    rows = [("site.yml, from scratch",) + run("site apply", site, inventory, arguments.forks, fleet_vars, arguments.keep_unbuffered) + (None,)]
    timings = dict((label, []) for label, _log, _playbook, _vars in repeated)
    for _round in range(arguments.rounds):  # interleaved, so that a busy moment of the machine hits every row
        for label, log, playbook, extra_vars in repeated:
            timings[label].append(run(log, playbook, inventory, arguments.forks, extra_vars, arguments.keep_unbuffered))
    for label, _log, _playbook, _vars in repeated:
        elapsed = [seconds for seconds, _totals in timings[label]]
        rows.append((label, min(elapsed), timings[label][0][1], max(elapsed)))
    ping = rows[-1][1]
    print("   %-24s %9s %10s %8s %8s %9s %12s" % ("run", "wall s", "s / host", "tasks", "changed", "vs ping", "slowest s"))
    for label, elapsed, totals, slowest in rows:
        print(
            "   %-24s %9.1f %10.3f %8d %8d %8.1fx %12s"
            % (label, elapsed, elapsed / arguments.hosts, totals["ok"], totals["changed"], elapsed / ping, "%.1f" % slowest if slowest else "")
        )
    converged = rows[1][2]["per_host"]
    for group in sorted(members):
        counts = [converged[host] for host in members[group] if host in converged]
        if counts:
            print("   task results per converged %s host: %d to %d" % (group, min(counts), max(counts)))
    print("   load average before / after: %s / %s" % (load_before, " ".join("%.2f" % value for value in os.getloadavg())))
    print("   logs: %s/*.log" % os.path.relpath(WORK, REPO))


if __name__ == "__main__":
    main()
