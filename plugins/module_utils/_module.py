# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plumbing every module of the collection shares.

A module builds its spec with ``common_argument_spec(**its_own_options)`` (documented by
the ``gpuops.mig.common`` doc fragment) and hands one function to ``run_module``::

    def main():
        module = AnsibleModule(argument_spec=common_argument_spec(state=...),
                               supports_check_mode=True)
        run_module(module, lambda session: reconcile(session.hardware, session.gpus, ...), hardware=Hardware)

``run_module`` resolves the feature gates, opens the hardware (real NVML, or the simulated
host named by ``simulator``), selects the GPUs, calls the function, and turns its result
into ``exit_json`` and every MigError into ``fail_json(msg, **details)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import traceback
from collections import namedtuple

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ._errors import MigError, NvmlBindingsMissing, named
from ._feature_gates import resolve as resolve_feature_gates
from ._lock import DEFAULT_LOCK_TIMEOUT, host_lock

#: Environment variable naming a simulated host when the ``simulator`` option is unset.
SIMULATOR_ENV = "GPUOPS_MIG_SIMULATOR"

#: What the function given to ``run_module`` receives.
#: ``hardware`` is an open ``_nvml.Hardware`` and ``gpus`` the selected ``GpuDevice`` list
#: (both None when ``run_module`` was called without ``hardware``).
Session = namedtuple("Session", ["params", "check_mode", "diff", "feature_gates", "hardware", "gpus"])


def common_argument_spec(**module_options):
    """The options every module takes, updated with the module's own ``module_options``."""
    spec = dict(
        simulator=dict(type="path", fallback=(env_fallback, [SIMULATOR_ENV])),
        feature_gates=dict(type="dict", default={}),
        gpus=dict(type="list", elements="str"),
        device_filter=dict(type="list", elements="str"),
    )
    spec.update(module_options)
    return spec


def open_hardware(module, hardware):
    """Open ``hardware`` (the ``_nvml.Hardware`` class) for the module's ``simulator`` option;
    fail the module cleanly when the NVML bindings are missing or it cannot be opened."""
    simulator = module.params.get("simulator")
    try:
        return hardware(simulator=simulator)
    except NvmlBindingsMissing as error:
        module.fail_json(msg=missing_required_lib("nvidia-ml-py"), exception=error.traceback)
    except MigError as error:
        module.fail_json(msg=str(error), backend="simulator" if simulator else "nvml", **error.details())


@contextlib.contextmanager
def _reader_lock(module, hardware, lock):
    """The host lock in mode ``lock`` for the block (nothing when None or no hardware)."""
    if lock is None or hardware is None:
        yield None
        return
    timeout = module.params.get("lock_timeout")
    with host_lock(hardware.host.path("lock"), DEFAULT_LOCK_TIMEOUT if timeout is None else timeout, "gpuops.mig", mode=lock) as held:
        yield held


def run_module(module, action, hardware=None, lock=None):
    """Run ``action(session)`` and exit the module with the dict it returns.

    ``hardware`` is the ``_nvml.Hardware`` class for modules that talk to GPUs (passed in,
    so that a module without GPUs does not ship the NVML layer and the simulator). The
    result always carries ``changed`` (False unless the action says otherwise) and
    ``feature_gates`` (effective values); with ``hardware`` also ``backend``.
    ``lock`` ``"shared"`` (``_lock.SHARED``) selects the GPUs and runs the action under
    the host lock shared with other readers, so a reading module never sees a change of
    mig_mode/mig_instance half done (waiting at most the ``lock_timeout`` option, default
    60 s). An exception that is no MigError fails the module naming its type, never as a
    bare traceback.
    """
    result = {"changed": False}
    try:
        gates = resolve_feature_gates(module.params.get("feature_gates"))
    except MigError as error:
        module.fail_json(msg=str(error), **error.details())
    result["feature_gates"] = gates

    opened = open_hardware(module, hardware) if hardware else None
    try:
        if opened is not None:
            result["backend"] = opened.backend
        try:
            with _reader_lock(module, opened, lock):
                selected = opened.select(module.params.get("gpus"), module.params.get("device_filter")) if opened else None
                session = Session(module.params, module.check_mode, module._diff, gates, opened, selected)
                result.update(action(session))
        except Exception as error:  # pylint: disable=broad-except  # every failure is named
            failure = dict(result)
            if not isinstance(error, MigError):
                failure["exception"] = traceback.format_exc()
            error = named(error)
            failure.update(error.details())
            module.fail_json(msg=str(error), **failure)
    finally:
        shutdown_error = opened.close() if opened is not None else None
    if shutdown_error is not None:
        module.warn("NVML did not shut down cleanly after the run (%s); the run itself completed" % shutdown_error)
    module.exit_json(**result)
