# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The managed host a module run talks to, resolved once from the ``simulator`` option.

A ``Host`` answers everything that is not an NVML call: which backend the GPUs are on,
where the driver's files are (device nodes, the ``mig-minors`` table), where the host's own
files go (lock, journal, CDI spec, mig-parted config, fabricmanager.cfg), and how GPU client
services and Fabric Manager are stopped, started and restarted. Three kinds of host:

* a real host (no simulator): real paths, ``systemctl``;
* a simulated host with simulated host files (the default; many simulated hosts on one
  machine): the driver's files live under ``<state file>.root``, the host's files under the
  same root (lock and journal beside the state file), and GPU client units in the state file;
* a simulated host with real host files (``simulated_host`` option ``host_files: real``):
  only the GPUs and their driver are simulated (driver files still under the root); units
  are systemd's and host files are at their real paths. This is how a container or VM with
  systemd runs the collection against simulated GPUs.

Nothing above this layer asks which kind it has.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

from ._errors import HardwareError, InputError

#: The host files a run may touch, at their real paths.
REAL_PATHS = {
    "lock": "/run/gpuops-mig.lock",
    "journal": "/var/lib/gpuops-mig/journal.json",
    "cdi_spec": "/var/run/cdi/nvidia.yaml",
    "mig_parted_config": "/etc/nvidia-mig-manager/gpuops-mig.yaml",
    "fabricmanager_cfg": "/usr/share/nvidia/nvswitch/fabricmanager.cfg",
}

#: Where a real host's driver exposes device nodes and the MIG capability minors.
REAL_DEV_ROOT = "/"
REAL_MIG_MINORS_PATH = "/proc/driver/nvidia-caps/mig-minors"
REAL_DRIVER_ROOT = "/"


def run_command(argv, gpu=None):
    """Run an argument list (never a shell string); HardwareError if it cannot start."""
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    except OSError as error:
        raise HardwareError(" ".join(argv[:2]), "command not available", gpu, str(error))


class Host(object):
    """One managed host (see the module docstring). ``simulator``: path of a simulated
    host's state file, or None for the real host."""

    def __init__(self, simulator=None):
        self.simulator = os.path.abspath(simulator) if simulator else None
        self.backend = "simulator" if simulator else "nvml"
        #: Whether the host's files and units are the simulated host's own (not the machine's).
        self.simulated_files = False
        #: Whether NVML calls wait outside Python (in the driver: 0.65 ms per profile query
        #: measured on an H200; or in a simulator's latency model), so that reading GPUs in
        #: threads overlaps the waits. A simulator without latency answers in Python under
        #: the GIL, where threads only add switching (a no-change pass on 8 GPUs: 24 ms read
        #: one GPU after the other, 88 ms in threads).
        self.nvml_calls_wait = True
        if not simulator:
            self.dev_root = REAL_DEV_ROOT
            self.mig_minors_path = REAL_MIG_MINORS_PATH
            self.driver_root = REAL_DRIVER_ROOT
            return
        # Imported here so that a real host never even loads the simulator.
        from ._simulator import host as simulated_host
        from ._simulator.state import SimulatorStateError, read_state

        try:
            driver_paths = simulated_host.paths(self.simulator)
            state = read_state(self.simulator)  # another file would only show up as a driver that is not loaded
        except SimulatorStateError as error:
            raise InputError("simulator", simulator, str(error))
        self._simulated_host = simulated_host
        self.simulated_files = simulated_host.host_files_of(state) == simulated_host.SIMULATED_FILES
        self.nvml_calls_wait = bool(state.get("latency"))
        self.root = driver_paths["root"]
        self.dev_root = driver_paths["dev_root"]
        self.mig_minors_path = driver_paths["mig_minors_path"]
        self.driver_root = driver_paths["driver_root"]

    def path(self, name):
        """Path of the host file ``name`` (a REAL_PATHS key) on this host."""
        if not self.simulated_files:
            return REAL_PATHS[name]
        if name == "lock":
            return self.simulator + ".gpuops-mig.lock"
        if name == "journal":
            return self.simulator + ".gpuops-mig-journal.json"
        return os.path.join(self.root, REAL_PATHS[name].lstrip("/"))

    # -- GPU client services (systemd units) ------------------------------------------------

    def stop_units(self, units):
        self._set_units(units, False)

    def start_units(self, units):
        self._set_units(units, True)

    def _set_units(self, units, active):
        units = list(units)
        if not units:
            return
        if self.simulated_files:
            for unit in units:
                self._simulated_host.set_unit_state(self.simulator, unit, active)
            return
        self._systemctl("start" if active else "stop", units)

    def _systemctl(self, verb, units):
        completed = run_command(["systemctl", verb] + list(units))
        if completed.returncode != 0:
            raise HardwareError("systemctl %s" % verb, "exit status %d" % completed.returncode, None, completed.stderr.strip())

    def active_units(self, units):
        """The subset of ``units`` that is active now, in the order given."""
        units = list(units)
        if not units:
            return []
        if self.simulated_files:
            states = self._simulated_host.unit_states(self.simulator)
            return [unit for unit in units if states.get(unit)]
        # `systemctl is-active` prints one state per unit and exits non-zero when any is
        # inactive, so the exit status carries no error here.
        completed = run_command(["systemctl", "is-active"] + units)
        states = completed.stdout.split()
        return [unit for unit, state in zip(units, states) if state == "active"]

    # -- Fabric Manager (its systemd service, or the simulated host's) ---------------------------

    def fabric_manager_default_config(self):
        """fabricmanager.cfg text when the host has no such file: the configuration a
        simulated host's Fabric Manager runs with (None without NVSwitch); None on a host
        whose files are real (no file, no Fabric Manager)."""
        if not self.simulated_files:
            return None
        from ._simulator import fm_lib

        return fm_lib.fabricmanager_cfg(self.simulator)

    def fabric_manager_running(self, service):
        if self.simulated_files:
            from ._simulator import fm_lib

            return fm_lib.fabric_manager_running(self.simulator)
        return bool(self.active_units([service]))

    def start_fabric_manager(self, service):
        """Start a stopped Fabric Manager. It starts afresh (no ``--restart``): every
        partition is inactive until activated again."""
        if self.simulated_files:
            from ._simulator import fm_lib

            fm_lib.restart_fabric_manager(self.simulator, resiliency=False)
            return
        self._systemctl("start", [service])

    def restart_fabric_manager(self, service, mode):
        """Restart Fabric Manager so that it reads its new configuration (FABRIC_MODE
        ``mode``, which a simulated Fabric Manager takes directly)."""
        if self.simulated_files:
            from ._simulator import fm_lib

            self._simulated_host.update_host(self.simulator, fabric_mode=mode)
            fm_lib.restart_fabric_manager(self.simulator, resiliency=False)
            return
        self._systemctl("restart", [service])


def host_files(simulator=None):
    """(lock path, journal path) of the host at ``simulator`` (or the real one)."""
    host = Host(simulator)
    return host.path("lock"), host.path("journal")
