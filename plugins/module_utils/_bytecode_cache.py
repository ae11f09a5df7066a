# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compiled code for this collection's module_utils when a module runs from AnsiballZ's zip.

Python keeps no bytecode for what it imports from a zip, so every module run compiled each
imported file again: about 10,000 lines for mig_instance, the largest part of a run that
changes nothing. Here the code is compiled once per source digest and Python version and
kept in a directory of the running user's own (``~/.cache/gpuops-mig/bytecode``, mode
0700). An entry is read back only from a file that user owns and nobody else can write,
in a directory nobody else can write (the trust Python gives ``__pycache__``), and only if
it was compiled from the same source by the same Python. Anything else, or any error, and
the file is compiled as it was before.

Importing this module from a zip installs the cache for the rest of the package, so every
module imports it before the other module_utils. ``GPUOPS_MIG_BYTECODE_CACHE`` names another
directory, or ``off`` to compile every time.

It also turns off the cyclic garbage collector for the rest of the run (see
``_short_lived_process``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import hashlib
import importlib.machinery
import importlib.util
import marshal
import os
import pwd
import stat
import sys
import tempfile
import types
import zipimport

try:
    from _imp import _fix_co_filename  # what importlib uses for __pycache__ entries
except ImportError:  # pragma: no cover  # other Python implementations
    def _fix_co_filename(code, path):
        return None

CACHE_ENV = "GPUOPS_MIG_BYTECODE_CACHE"


def cache_directory():
    """The cache directory for this process, or None when caching is off."""
    configured = os.environ.get(CACHE_ENV)
    if configured == "off":
        return None
    if configured:
        return configured
    # the effective user's home, not $HOME: under become, $HOME may be another user's
    return os.path.join(pwd.getpwuid(os.geteuid()).pw_dir, ".cache", "gpuops-mig", "bytecode")


def install(package):
    """Serve ``package``'s submodules (when they come from a zip) through the cache."""
    directory = cache_directory()
    if directory is None or any(isinstance(finder, CachingFinder) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, CachingFinder(package + ".", directory))


def _owned_and_private(info):
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _usable_directory(directory):
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and _owned_and_private(info)


class CachingFinder:
    """Finds the package's submodules as the path finder does; for those in a zip, the
    loader compiles through the cache."""

    def __init__(self, prefix, directory):
        self.prefix = prefix
        self.directory = directory
        self._directory_usable = None

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(self.prefix):
            return None
        for entry in path or ():
            importer = _zip_importer(entry)
            if importer is None:
                spec = importlib.machinery.PathFinder.find_spec(fullname, [entry], target)
            else:
                spec = self._zip_spec(fullname, importer)
            if spec is not None:
                return spec
        return None

    def _zip_spec(self, fullname, importer):
        """The spec of ``fullname`` in ``importer``'s zip directory, or None.

        Built here because zipimporter.find_spec asks for the file name, and zipimport
        answers that by compiling the module: every import compiled twice, once of them
        before this cache could answer.
        """
        try:
            package = importer.is_package(fullname)
        except zipimport.ZipImportError:
            return None
        location = os.path.join(importer.archive, importer.prefix, fullname.rpartition(".")[2])
        if package:
            return importlib.util.spec_from_file_location(
                fullname, os.path.join(location, "__init__.py"), loader=CachedZipLoader(importer, self),
                submodule_search_locations=[location],
            )
        return importlib.util.spec_from_file_location(fullname, location + ".py", loader=CachedZipLoader(importer, self))

    def usable(self):
        if self._directory_usable is None:
            self._directory_usable = _usable_directory(self.directory)
        return self._directory_usable


def _zip_importer(entry):
    """The zipimporter for the path entry ``entry`` (as the path finder caches it), or None
    when the entry is not a directory inside a zip."""
    importer = sys.path_importer_cache.get(entry)
    if importer is None:
        try:
            importer = sys.path_importer_cache[entry] = zipimport.zipimporter(entry)
        except zipimport.ZipImportError:
            return None
    return importer if isinstance(importer, zipimport.zipimporter) else None


class CachedZipLoader:
    """A zipimporter's module, compiled through the cache."""

    def __init__(self, zip_loader, finder):
        self.zip_loader = zip_loader
        self.finder = finder

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__spec__.name, module.__spec__.origin), module.__dict__)  # pylint: disable=exec-used

    def get_source(self, fullname):
        return self.zip_loader.get_source(fullname)

    def is_package(self, fullname):
        return self.zip_loader.is_package(fullname)

    def get_code(self, fullname, origin):
        source = self.zip_loader.get_source(fullname)
        if not self.finder.usable():
            return compile(source, origin, "exec", dont_inherit=True)
        header = importlib.util.MAGIC_NUMBER + hashlib.sha256(source.encode("utf-8")).digest()
        entry = os.path.join(self.finder.directory, hashlib.sha256(header).hexdigest()[:32] + ".pyc")
        code = _read_entry(entry, header)
        if code is None:
            code = compile(source, origin, "exec", dont_inherit=True)
            _write_entry(self.finder.directory, entry, header, code)
        else:
            _fix_co_filename(code, origin)
        return code


def _read_entry(entry, header):
    try:
        descriptor = os.open(entry, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or not _owned_and_private(info):
            return None
        with os.fdopen(descriptor, "rb") as handle:
            descriptor = None
            data = handle.read()
        if not data.startswith(header):
            return None
        code = marshal.loads(data[len(header):])
        return code if isinstance(code, types.CodeType) else None
    except (OSError, ValueError, EOFError, TypeError):
        return None
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _write_entry(directory, entry, header, code):
    try:
        descriptor, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(header + marshal.dumps(code))
        os.chmod(temporary, 0o600)
        os.replace(temporary, entry)
    except (OSError, ValueError):
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _short_lived_process():
    """A module process lives for a fraction of a second, so the cyclic collector is off for
    the rest of it, and what exists now (everything Ansible's imports made) is frozen out of
    the full collection at exit: together about a tenth of a no-change ``mig_instance`` run."""
    gc.disable()
    gc.freeze()


if isinstance(getattr(__spec__, "loader", None), zipimport.zipimporter):
    _short_lived_process()
    install(__name__.rpartition(".")[0])
