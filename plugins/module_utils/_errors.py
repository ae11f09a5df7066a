# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the core. Modules turn any MigError into fail_json(msg=str(error),
**error.details()) so users get one clear message and machine-readable fields."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class MigError(Exception):
    """Base class of every error the collection raises on purpose."""

    def details(self):
        """Extra fields for the module result (JSON-serialisable)."""
        return {}


class InputError(MigError):
    """A user-supplied value is invalid. Raised before anything changes."""

    def __init__(self, option, value, problem, valid=None):
        self.option = option
        self.value = value
        self.problem = problem
        self.valid = list(valid) if valid is not None else None
        message = "%s=%r: %s" % (option, value, problem)
        if self.valid:
            message += " (valid: %s)" % ", ".join(str(choice) for choice in self.valid)
        super(InputError, self).__init__(message)

    def details(self):
        return {"option": self.option, "valid": self.valid}


class HardwareError(MigError):
    """A call into NVML or Fabric Manager failed.

    ``error`` is the library's own error name (``NVML_ERROR_IN_USE``, ``FM_ST_IN_USE``),
    ``call`` the function, ``gpu`` the GPU index (or None when not GPU specific).
    """

    def __init__(self, call, error, gpu=None, host_message=None):
        self.call = call
        self.error = error
        self.gpu = gpu
        where = " on GPU %s" % gpu if gpu is not None else ""
        message = "%s failed%s: %s" % (call, where, error)
        if host_message:
            message += " (%s)" % host_message
        super(HardwareError, self).__init__(message)

    def details(self):
        return {"call": self.call, "error": self.error, "gpu": self.gpu}


class PlacementError(MigError):
    """A wanted layout cannot be placed, or not without destroying protected instances."""

    def __init__(self, message, gpu=None, blocking=None):
        self.gpu = gpu
        self.blocking = list(blocking or [])
        super(PlacementError, self).__init__(message)

    def details(self):
        return {"gpu": self.gpu, "blocking": self.blocking}


class NvmlBindingsMissing(MigError):
    """The ``pynvml`` module (package nvidia-ml-py) is not importable on the managed host."""

    def __init__(self, import_traceback):
        self.traceback = import_traceback
        super(NvmlBindingsMissing, self).__init__("the Python module pynvml (package nvidia-ml-py) is missing")


class UnexpectedError(MigError):
    """An error the collection does not raise on purpose (a bug, or the host: ENOSPC...),
    named by its type; handled like any failure (rollback, truthful ``changed``)."""

    def __init__(self, error):
        self.error = error
        super(UnexpectedError, self).__init__("unexpected %s: %s" % (type(error).__name__, error))

    def details(self):
        return {"unexpected": type(self.error).__name__}


def named(error):
    """``error`` as a MigError (UnexpectedError around anything else)."""
    return error if isinstance(error, MigError) else UnexpectedError(error)
