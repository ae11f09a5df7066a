# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File writes that readers never see half done, and reads and locks that never follow a
symlink, block on a FIFO or swallow an endless file; whether YAML files can be read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import importlib.util
import os
import stat
import tempfile

from ._errors import MigError


def pyyaml_installed():
    """Whether PyYAML can be imported, answered without importing it: the import costs a
    module run about 10 ms, and a run that changes nothing may not need it."""
    try:
        return importlib.util.find_spec("yaml") is not None
    except (ImportError, ValueError):  # ValueError: its import is blocked (sys.modules["yaml"] = None)
        return False


def write_atomically(path, text, mode, durable=True, directory_mode=0o755):
    """Replace ``path`` with ``text`` (str, or bytes for binary content) and file ``mode``,
    all at once.

    The content goes to a temporary file in the same directory (a missing directory is
    created with ``directory_mode``), gets its mode, and is renamed over ``path``: readers
    see the old file or the new one, never a mix. ``durable`` fsyncs before the rename so a
    crash cannot leave an empty file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, directory_mode)
    handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb" if isinstance(text, bytes) else "w") as stream:
            stream.write(text)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class UnsafeFile(MigError):
    """A file the collection reads or locks is not what it must be (a symlink, a FIFO, a
    device, a directory, too large)."""

    def __init__(self, path, problem, what="file"):
        self.path = path
        super(UnsafeFile, self).__init__("%s %s %s; inspect it and remove it" % (what, path, problem))

    def details(self):
        return {"path": self.path}


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, flags, create_mode=0o600, what="file"):
    """``os.open`` that never follows a symlink at ``path``, never blocks on a FIFO and
    accepts only a regular file; returns the descriptor. ``flags`` may include O_CREAT.

    Raises UnsafeFile for anything else (and lets ENOENT and permission errors through as
    OSError for the caller to judge).
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), create_mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(path, "is a symbolic link (not followed)", what)
        if error.errno == errno.EISDIR:
            raise UnsafeFile(path, "is a directory", what)
        if error.errno == errno.ENXIO:  # a FIFO opened for writing without a reader
            raise UnsafeFile(path, "is a FIFO", what)
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafeFile(path, "is %s, not a regular file" % _kind(mode), what)
    return fd


def read_regular_file(path, limit, what="file"):
    """The bytes of the regular file at ``path``, at most ``limit`` of them (UnsafeFile
    beyond), without following a symlink or blocking on a FIFO. A missing file raises
    OSError(ENOENT)."""
    fd = open_regular(path, os.O_RDONLY, what=what)
    try:
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise UnsafeFile(path, "is larger than %d bytes" % limit, what)
    return b"".join(chunks)
