# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host lock: runs that change MIG state hold it exclusively, readers (gpu_info,
cdi_spec) share it, so no run reads or plans from a host half way through another's change.
An fcntl lock on a file of the host (``_host.Host.path("lock")``): the kernel drops it when
the holder exits, however it exits."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import json
import os
import time

from ._errors import MigError
from ._files import open_regular

#: How long a run waits for the lock by default (seconds).
DEFAULT_LOCK_TIMEOUT = 60

#: How often a waiting run retries the lock (seconds).
_LOCK_POLL = 0.05


class LockTimeout(MigError):
    """Another run held the host lock for longer than ``lock_timeout``."""

    def __init__(self, path, timeout, holder):
        self.path = path
        self.holder = holder
        who = "pid %s" % holder["pid"] if holder.get("pid") else "readers such as gpu_info or cdi_spec (they leave no record)"
        if holder.get("module"):
            who += " (%s)" % holder["module"]
        super(LockTimeout, self).__init__(
            "another gpuops.mig run holds the host lock %s: %s; gave up after lock_timeout=%s seconds"
            % (path, who, timeout)
        )

    def details(self):
        return {"lock_path": self.path, "lock_holder": self.holder}


def _read_holder(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        holder = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    if not isinstance(holder, dict) or not _alive(holder.get("pid")):
        return {}  # a reader holds the lock; the record is one a killed run left behind
    return holder


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, OverflowError):
        return False
    except OSError as error:
        return error.errno == errno.EPERM
    return True


#: Lock modes: runs that change MIG state hold the lock exclusively; runs that only read
#: (gpu_info, cdi_spec) share it, so they never read a host half way through a change.
EXCLUSIVE = "exclusive"
SHARED = "shared"


def _open_lock_file(path, mode):
    """The lock file's descriptor: created 0644 where missing (its directory too), never
    through a symlink, and only a regular file. A reader that may not create or write it
    (gpu_info as an ordinary user) opens it read-only, or runs without it where no
    exclusive run has ever created it."""
    directory = os.path.dirname(path)
    try:
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        return open_regular(path, os.O_RDWR | os.O_CREAT, 0o644, what="host lock file")
    except OSError as error:
        if mode == SHARED and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            try:
                return open_regular(path, os.O_RDONLY, what="host lock file")
            except OSError as missing:
                if missing.errno == errno.ENOENT:
                    return None
                error = missing
        raise MigError("cannot open the host lock file %s: %s" % (path, error.strerror or error))


@contextlib.contextmanager
def host_lock(path, timeout, module, mode=EXCLUSIVE):
    """Hold the host's lock for the block; wait at most ``timeout`` seconds.

    ``mode`` EXCLUSIVE (runs that change MIG state; the holder writes its pid and module
    into the file so a waiter can name it) or SHARED (readers; any number at once, never
    beside an exclusive holder). The lock is an fcntl lock: the kernel drops it when the
    holder exits, however it exits, so a lock file left behind by a killed run never
    blocks the next one.
    """
    fd = _open_lock_file(path, mode)
    if fd is None:
        yield {"pid": os.getpid(), "module": module, "mode": mode}
        return
    try:
        deadline = time.time() + timeout
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if mode == SHARED else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise MigError("cannot lock the host lock file %s: %s" % (path, error.strerror or error))
                if time.time() >= deadline:
                    raise LockTimeout(path, timeout, _read_holder(fd))
                time.sleep(_LOCK_POLL)
        holder = {"pid": os.getpid(), "module": module, "mode": mode, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if mode == EXCLUSIVE:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(holder).encode("utf-8"))
        try:
            yield holder
        finally:
            if mode == EXCLUSIVE:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def held_or_taken(lock, path, timeout, module):
    """The host lock for a change: ``lock`` when the caller already holds it exclusively
    (what ``host_lock`` yielded), else taken here for the block."""
    if lock is None:
        with host_lock(path, timeout, module) as taken:
            yield taken
        return
    if lock.get("mode", EXCLUSIVE) != EXCLUSIVE or lock.get("pid") != os.getpid():
        raise MigError("%s needs the host lock held exclusively by this process (got %r)" % (module, lock))
    yield lock
