# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NVML bindings (``pynvml`` from the package nvidia-ml-py) on the managed host.

Modules look for ``pynvml`` first in LIBRARY_DIR, where the ``mig`` role places it from a
wheel the user gives (``mig_nvml_wheel``; ``wheel_files`` reads the wheel on the
controller), then on the interpreter's own path. Bindings older than MINIMUM_VERSION lack
calls the collection makes; they are refused with the version, the path and the fix instead
of failing later with an AttributeError.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import platform
import sys
import traceback
import zipfile

#: Where the mig role installs pynvml.py (and its wheel's METADATA) on a managed host.
LIBRARY_DIR = "/opt/gpuops-mig/lib"
DISTRIBUTION = "nvidia-ml-py"
#: The oldest nvidia-ml-py with every call below (requirements.txt pins the same).
MINIMUM_VERSION = "12.535"
#: Calls the collection makes that older releases lack.
NEWER_CALLS = (
    "nvmlDeviceGetModuleId",
    "nvmlGpuInstanceCreateComputeInstanceWithPlacement",
    "nvmlGpuInstanceGetComputeInstancePossiblePlacements",
)
#: The fix, for every message about missing or old bindings.
FIX = ("give the gpuops.mig.mig role an nvidia-ml-py >= %s wheel (mig_nvml_wheel: path on the controller; it "
       "installs it into %s), or install nvidia-ml-py >= %s for the host's Python %s"
       % (MINIMUM_VERSION, LIBRARY_DIR, MINIMUM_VERSION, sys.executable))


def _version_tuple(version):
    parts = []
    for part in version.split("."):
        digits = "".join(character for character in part if character.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _metadata_version(text):
    for line in text.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def installed_version(pynvml_file):
    """Version of the nvidia-ml-py whose pynvml.py is ``pynvml_file`` (from the dist-info
    beside it), or None when no metadata is there."""
    pattern = os.path.join(os.path.dirname(os.path.abspath(pynvml_file)), "nvidia_ml_py*.dist-info", "METADATA")
    for metadata in sorted(glob.glob(pattern)):
        with open(metadata) as handle:
            version = _metadata_version(handle.read())
        if version:
            return version
    return None


def too_old_problem(pynvml_file, version, missing_calls):
    """Why bindings are refused (None when they are recent enough)."""
    if not missing_calls and (version is None or _version_tuple(version) >= _version_tuple(MINIMUM_VERSION)):
        return None
    detail = "it lacks %s" % ", ".join(missing_calls) if missing_calls else "gpuops.mig needs %s or later" % MINIMUM_VERSION
    return "%s %s (%s) on %s is too old: %s; %s" % (
        DISTRIBUTION, version or "of unknown version", pynvml_file, platform.node(), detail, FIX)


def missing_problem():
    return "the Python module pynvml (package %s) is missing on %s; %s" % (DISTRIBUTION, platform.node(), FIX)


def load_pynvml():
    """``(pynvml, None, None)``, or ``(None, problem, import traceback or None)`` when the
    bindings are missing or too old (problem: what is wrong, where, and the fix)."""
    if os.path.isfile(os.path.join(LIBRARY_DIR, "pynvml.py")) and LIBRARY_DIR not in sys.path:
        sys.path.insert(0, LIBRARY_DIR)
    try:
        import pynvml
    except ImportError:
        return None, missing_problem(), traceback.format_exc()
    missing = [name for name in NEWER_CALLS if not hasattr(pynvml, name)]
    problem = too_old_problem(pynvml.__file__, installed_version(pynvml.__file__), missing)
    return (None, problem, None) if problem else (pynvml, None, None)


def wheel_files(wheel_path):
    """The files to place in LIBRARY_DIR from an nvidia-ml-py wheel: ``[{"dest", "content"}]``
    for pynvml.py and the wheel's METADATA (so the version can be checked on the host).
    Raises ValueError when the file is not such a wheel or the wheel is too old."""
    try:
        archive = zipfile.ZipFile(wheel_path)
    except (OSError, zipfile.BadZipfile) as error:
        raise ValueError("mig_nvml_wheel=%s: not a readable wheel (%s)" % (wheel_path, error))
    with archive:
        names = archive.namelist()
        metadata = [name for name in names if name.startswith("nvidia_ml_py-") and name.endswith(".dist-info/METADATA")]
        if "pynvml.py" not in names or len(metadata) != 1:
            raise ValueError("mig_nvml_wheel=%s: not an %s wheel (it has no pynvml.py and nvidia_ml_py-*.dist-info); "
                             "download one with: pip download --no-deps 'nvidia-ml-py>=%s'"
                             % (wheel_path, DISTRIBUTION, MINIMUM_VERSION))
        module_text = archive.read("pynvml.py").decode("utf-8")
        metadata_text = archive.read(metadata[0]).decode("utf-8")
    version = _metadata_version(metadata_text)
    if _version_tuple(version or "0") < _version_tuple(MINIMUM_VERSION):
        raise ValueError("mig_nvml_wheel=%s: %s %s is too old; gpuops.mig needs %s or later"
                         % (wheel_path, DISTRIBUTION, version, MINIMUM_VERSION))
    return [
        {"dest": os.path.join(LIBRARY_DIR, "pynvml.py"), "content": module_text},
        {"dest": os.path.join(LIBRARY_DIR, "nvidia_ml_py.dist-info", "METADATA"), "content": metadata_text},
    ]
