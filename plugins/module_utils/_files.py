# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File writes that readers never see half done."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


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
