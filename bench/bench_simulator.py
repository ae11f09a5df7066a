"""NVML simulator call costs, printed side by side (no assertions).

1. read calls (nvmlDeviceGetMigMode) with the parsed-state cache, and with the cache
   defeated (every call re-parses the JSON state, as a naive simulator would);
2. mutating calls (create + destroy a GPU instance: exclusive lock, parse, atomic write).

Usage: .venv/bin/python bench/bench_simulator.py [--quick]
"""

import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for root in (os.path.join(REPO, "build", "collections"), os.path.join(REPO, "build", "dev")):
    if os.path.isdir(os.path.join(root, "ansible_collections", "gpuops", "mig")):
        sys.path.insert(0, root)
        break
else:
    sys.exit("build the collection first: make install (or run the unit tests once)")

import pynvml  # noqa: E402

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host, nvml_lib  # noqa: E402


def per_call(function, count):
    started = time.perf_counter()
    for dummy in range(count):
        function()
    return (time.perf_counter() - started) / count


def main():
    reads = 300 if "--quick" in sys.argv else 3000
    mutations = 20 if "--quick" in sys.argv else 100
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "dgx-h100.json")
        host.create_host(path, "dgx-h100")
        library = nvml_lib.install(path)
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        pynvml.nvmlDeviceSetMigMode(handle, 1)
        cached = per_call(lambda: pynvml.nvmlDeviceGetMigMode(handle), reads)

        def uncached():
            library._cache_key = None
            pynvml.nvmlDeviceGetMigMode(handle)

        reparsed = per_call(uncached, reads)

        def create_destroy():
            pynvml.nvmlGpuInstanceDestroy(pynvml.nvmlDeviceCreateGpuInstance(handle, 19))

        mutation = per_call(create_destroy, mutations) / 2
        pynvml.nvmlShutdown()
        nvml_lib.uninstall()
    print("simulator (DGX H100 state): per call")
    print("  read, cached state      %8.1f us" % (cached * 1e6))
    print("  read, re-parsed state   %8.1f us   (%.1fx the cached read)" % (reparsed * 1e6, reparsed / cached))
    print("  mutating call           %8.1f us   (%.1fx the cached read)" % (mutation * 1e6, mutation / cached))


if __name__ == "__main__":
    main()
