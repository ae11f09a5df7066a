# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated host's state file: one JSON document, locked with fcntl while in use and
replaced atomically, so separate processes (consecutive module runs, parallel workers)
always see one consistent machine."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import json
import os
from .._files import write_atomically

STATE_FORMAT_VERSION = 1


class SimulatorStateError(Exception):
    """The state file is missing, unreadable or not a simulated host."""


def lock_path(path):
    """The file whose fcntl lock guards the state file at ``path``."""
    return path + ".lock"


@contextlib.contextmanager
def locked_state(path, write=True):
    """Yield the host state as a dict while holding the host's lock.

    With ``write=True`` the (possibly modified) dict is written back atomically when the
    block exits without an exception; on an exception nothing is written.
    """
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise SimulatorStateError("simulated host state file %s does not exist" % path)
    lock_fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        state = read_state(path)
        yield state
        if write:
            write_state(path, state)
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)


def read_state(path):
    try:
        with open(path, "r") as handle:
            state = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise SimulatorStateError("cannot read simulated host state %s: %s" % (path, exc))
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT_VERSION:
        raise SimulatorStateError("%s is not a gpuops.mig simulated host (format %s)" % (path, STATE_FORMAT_VERSION))
    return state


def write_state(path, state):
    """Write ``state`` to ``path`` atomically (temp file in the same directory + rename)."""
    write_atomically(path, json.dumps(state, indent=1, sort_keys=True) + "\n", 0o644)
