#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real managed hosts for the tests: systemd containers reached over SSH on 127.0.0.1.

    hostctl.py up NAME --port PORT [--flaw no-python|no-sudo] [--old-nvml WHEEL]
    hostctl.py down NAME [NAME ...]
    hostctl.py list

``up`` boots a container of the managed-host image (tests/hosts/build-image.sh) with
systemd as PID 1, its sshd listening on 127.0.0.1:PORT only, the run's public key
(build/hosts/ssh/id_ed25519.pub, created on first use) for the user ``gpuops`` (passwordless
sudo), the test stand-in units (GPU clients, Fabric Manager) installed, and waits until
``ssh`` answers. A flaw makes a host for the bad-input tests: ``no-python`` (python3
removed), ``no-sudo`` (gpuops may not sudo), ``--old-nvml`` (the wheel's pynvml installed
system-wide). ``down`` removes containers and their anonymous volumes. Every container
is labelled ``gpuops-mig-test`` so ``list`` (and ``make clean-hosts``) find leftovers.
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(os.path.dirname(HERE))
WORK = os.environ.get("GPUOPS_HOST_BUILD_DIR", os.path.join(REPOSITORY, "build", "hosts"))
KEY = os.path.join(WORK, "ssh", "id_ed25519")
LABEL = "gpuops-mig-test"
USER = "gpuops"
UNITS_DIR = os.path.join(HERE, "units")
FM_STANDIN = "/usr/local/bin/gpuops-mig-test-fabricmanager"
#: Stand-ins for the services that use the GPUs (tests/hosts/units), running on every host.
GPU_CLIENTS = ("nvidia-dcgm", "nvidia-k8s-device-plugin")
BOOT_TIMEOUT = 120


class HostError(Exception):
    pass


def run(argv, check=True, capture=True, input_text=None):
    result = subprocess.run(argv, stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None,
                            universal_newlines=True, input=input_text, check=False)
    if check and result.returncode != 0:
        raise HostError("%s failed (%d): %s" % (" ".join(argv), result.returncode, (result.stdout or "").strip()))
    return result


def image_name():
    return run(["bash", os.path.join(HERE, "image-name.sh")]).stdout.strip()


def ensure_key():
    """The run's SSH key pair (created once per build/ directory)."""
    if not os.path.exists(KEY):
        os.makedirs(os.path.dirname(KEY), mode=0o700, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gpuops-mig-test", "-f", KEY])
    return KEY


def ssh_argv(port, *command):
    return ["ssh", "-i", KEY, "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
            "%s@127.0.0.1" % USER] + list(command)


def port_in_use(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def copy_in(name, source, destination):
    run(["podman", "cp", source, "%s:%s" % (name, destination)])


def exec_in(name, *argv):
    return run(["podman", "exec", name] + list(argv))


def copy_simulator(name):
    """The collection's module_utils, for the Fabric Manager stand-in (it drives the simulator)."""
    staging = tempfile.mkdtemp(prefix="gpuops-collection-")
    try:
        target = os.path.join(staging, "gpuops-mig-test", "ansible_collections", "gpuops", "mig", "plugins")
        shutil.copytree(os.path.join(REPOSITORY, "plugins", "module_utils"), os.path.join(target, "module_utils"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        copy_in(name, os.path.join(staging, "gpuops-mig-test"), "/usr/local/lib/")
    finally:
        shutil.rmtree(staging)


def install_fabricmanager_cfg(name):
    """The configuration the Fabric Manager package installs (how the roles know it is there)."""
    staging = tempfile.mkdtemp(prefix="gpuops-fm-")
    try:
        os.makedirs(os.path.join(staging, "nvidia", "nvswitch"))
        shutil.copy(os.path.join(UNITS_DIR, "fabricmanager.cfg"), os.path.join(staging, "nvidia", "nvswitch"))
        copy_in(name, os.path.join(staging, "nvidia"), "/usr/share/")
    finally:
        shutil.rmtree(staging)


def install_old_nvml(name, wheel):
    """Put the wheel's pynvml.py and its dist-info into the host's system site-packages."""
    staging = tempfile.mkdtemp(prefix="gpuops-old-nvml-")
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [member for member in archive.namelist()
                       if member == "pynvml.py" or (".dist-info/" in member and member.split("/")[0].startswith("nvidia_ml_py"))]
            archive.extractall(staging, members)
        for entry in sorted(set(member.split("/")[0] for member in members)):
            copy_in(name, os.path.join(staging, entry), "/usr/lib/python3/dist-packages/")
    finally:
        shutil.rmtree(staging)


def wait_until(what, check, timeout=BOOT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise HostError("%s: not ready after %d s" % (what, timeout))


def up(name, port, flaw=None, old_nvml=None):
    if port_in_use(port):
        raise HostError("127.0.0.1:%d is already in use; pick another port for %s" % (port, name))
    ensure_key()
    image = image_name()
    if run(["podman", "image", "exists", image], check=False).returncode != 0:
        raise HostError("image %s is not built; run `make host-image` (tests/hosts/build-image.sh)" % image)
    run(["podman", "rm", "--force", "--volumes", name], check=False)
    run(["podman", "--runtime", "runc", "create", "--pull", "never", "--name", name, "--hostname", name, "--label", LABEL,
         "--systemd=always", "--network", "host", "--add-host", "%s:127.0.0.1" % name, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
         image, "/sbin/init"])
    staging = tempfile.mkdtemp(prefix="gpuops-host-")
    try:
        listen = os.path.join(staging, "gpuops-listen.conf")
        with open(listen, "w") as handle:
            handle.write("ListenAddress 127.0.0.1:%d\nPasswordAuthentication no\n" % port)
        copy_in(name, listen, "/etc/ssh/sshd_config.d/gpuops-listen.conf")
        copy_in(name, KEY + ".pub", "/home/%s/.ssh/authorized_keys" % USER)
    finally:
        shutil.rmtree(staging)
    copy_in(name, os.path.join(UNITS_DIR, "fabricmanager_standin.py"), FM_STANDIN)
    install_fabricmanager_cfg(name)
    copy_simulator(name)
    for unit in sorted(os.listdir(UNITS_DIR)):
        if unit.endswith(".service"):
            copy_in(name, os.path.join(UNITS_DIR, unit), "/etc/systemd/system/" + unit)
    run(["podman", "start", name])
    wait_until(
        "%s: systemd" % name,
        lambda: run(["podman", "exec", name, "systemctl", "is-system-running", "--wait"], check=False).stdout.strip() in ("running", "degraded"),
    )
    exec_in(name, "systemctl", "enable", "--now", *GPU_CLIENTS)
    if flaw == "no-python":
        exec_in(name, "sh", "-c", "rm -f /usr/bin/python3*")
    elif flaw == "no-sudo":
        exec_in(name, "rm", "-f", "/etc/sudoers.d/gpuops")
    if old_nvml:
        install_old_nvml(name, old_nvml)
    wait_until("%s: ssh on 127.0.0.1:%d" % (name, port),
               lambda: run(ssh_argv(port, "true"), check=False).returncode == 0, timeout=60)
    print("%s: up, ssh %s@127.0.0.1 -p %d -i %s" % (name, USER, port, KEY))


def down(names):
    for name in names:
        run(["podman", "rm", "--force", "--volumes", "--time", "5", name], check=False)
        print("%s: removed" % name)


def listing():
    print(run(["podman", "ps", "--all", "--filter", "label=" + LABEL, "--format", "{{.Names}} {{.Status}}"]).stdout, end="")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="boot a managed host")
    start.add_argument("name")
    start.add_argument("--port", type=int, required=True)
    start.add_argument("--flaw", choices=["no-python", "no-sudo"])
    start.add_argument("--old-nvml", metavar="WHEEL", help="install this nvidia-ml-py wheel's pynvml system-wide")
    stop = commands.add_parser("down", help="remove managed hosts")
    stop.add_argument("names", nargs="+")
    commands.add_parser("list", help="list the test containers")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "up":
            up(arguments.name, arguments.port, arguments.flaw, arguments.old_nvml)
        elif arguments.command == "down":
            down(arguments.names)
        else:
            listing()
    except HostError as error:
        print("hostctl: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
