# gpuops.mig offline get-pip shim: run.sh may replace a cached file that starts with this line.
"""Offline stand-in for get-pip.py, used by ansible-test to bootstrap pip into its venvs.

ansible-test creates every sanity virtualenv without pip and then runs a cached copy of
get-pip.py (~/.ansible/test/cache/get_pip_<version>.py) inside it, downloading that script
first when the cache is empty. The download host is unreachable from machines that only
reach PyPI, so tests/sanity/run.sh installs this file there instead when nothing is cached.

Called like get-pip.py, with pip install arguments (e.g. ``--disable-pip-version-check
pip==24.2 --no-setuptools --no-wheel``), it bootstraps pip from the standard library's
ensurepip and lets that pip install the requested packages. get-pip.py's own options
``--no-setuptools``/``--no-wheel`` are honoured by removing what ensurepip added.
"""

import importlib.metadata
import os
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = {"--no-setuptools": "setuptools", "--no-wheel": "wheel"}


def is_installed(distribution):
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def main():
    # ensurepip points PIP_CONFIG_FILE at /dev/null, which would drop the machine's pip
    # settings (certificates, index mirrors); the real install runs with the caller's env.
    environment = dict(os.environ)
    arguments = sys.argv[1:]
    unwanted_if_added = [
        distribution
        for option, distribution in GET_PIP_ONLY_OPTIONS.items()
        if option in arguments and not is_installed(distribution)
    ]
    pip_arguments = [argument for argument in arguments if argument not in GET_PIP_ONLY_OPTIONS]

    subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install"] + pip_arguments, env=environment, check=True)
    unwanted = [distribution for distribution in unwanted_if_added if is_installed(distribution)]
    if unwanted:
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet"] + unwanted,
            env=environment,
            check=True,
        )


if __name__ == "__main__":
    main()
