# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for the nvidia-fabricmanager daemon on a test host whose GPUs are simulated
(``simulated_host`` with ``host_files: real``).

Run as the systemd service nvidia-fabricmanager: on start it reads FABRIC_MODE from
fabricmanager.cfg, starts the simulated Fabric Manager fresh in that mode (every partition
inactive, as a restart without --restart does), marks it running and only then tells systemd
it has started (Type=notify); while it runs, the
simulated libnvfm answers; on SIGTERM (systemctl stop or restart) it marks it stopped, so
libnvfm refuses connections again. The simulator code comes from the collection copied onto
the host (PYTHONPATH in the unit).

    fabricmanager_standin.py STATE_FILE FABRICMANAGER_CFG
"""

from __future__ import absolute_import, division, print_function

import os
import signal
import socket
import sys

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host


def configured_mode(config_path):
    """FABRIC_MODE of fabricmanager.cfg (0, bare metal, when the file or key is missing)."""
    try:
        with open(config_path) as config:
            lines = config.read().splitlines()
    except FileNotFoundError:
        return 0
    for line in lines:
        key, _equals, value = line.partition("=")
        if key.strip() == "FABRIC_MODE" and value.strip():
            return int(value.strip())
    return 0


def notify_ready():
    """Tell systemd (Type=notify) that Fabric Manager is up, so `systemctl start` and `restart`
    return only once the simulated Fabric Manager runs in its new mode (a caller that
    activates partitions right after a restart must not race the start)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as channel:
        channel.connect(address)
        channel.sendall(b"READY=1")


def main(argv):
    state_path, config_path = argv

    def stop(signal_number, frame):
        fm_lib.set_fabric_manager_running(state_path, False)
        print("simulated Fabric Manager stopped", flush=True)
        sys.exit(0)

    # Before anything else: a stop that comes while starting must still mark FM stopped.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    mode = configured_mode(config_path)
    simulated_host.update_host(state_path, fabric_mode=mode)
    fm_lib.restart_fabric_manager(state_path, resiliency=False)
    print("simulated Fabric Manager running in FABRIC_MODE=%d" % mode, flush=True)
    notify_ready()
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv[1:])
