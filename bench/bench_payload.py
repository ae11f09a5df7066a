"""What each module ships: the AnsiballZ payload Ansible builds for it (bytes, compressed as
Ansible sends it) and the module_utils inside it (files and lines that the managed host's
Python compiles on every run), printed per module.

Usage: .venv/bin/python bench/bench_payload.py   (make bench runs it)
"""

import base64
import io
import os
import re
import sys
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collections_root():
    for root in (os.path.join(REPO, "build", "collections"), os.path.join(REPO, "build", "dev")):
        if os.path.isdir(os.path.join(root, "ansible_collections", "gpuops", "mig")):
            return root
    sys.exit("build the collection first: make install (or run the tests once)")


def payload(name, templar):
    from ansible.executor.module_common import modify_module

    path = os.path.join(collections_root(), "ansible_collections", "gpuops", "mig", "plugins", "modules", name + ".py")
    built = modify_module(
        module_name="gpuops.mig." + name, module_path=path, module_args={}, templar=templar, task_vars={"ansible_python_interpreter": sys.executable},
        module_compression="ZIP_DEFLATED",
    )
    data = built.b_module_data
    encoded = re.search(rb'"""([A-Za-z0-9+/=\s]{200,})"""', data) or re.search(rb"'([A-Za-z0-9+/=]{200,})'", data)
    files = {}
    if encoded:
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(encoded.group(1)))) as archive:
            for info in archive.infolist():
                if "gpuops/mig/plugins/module_utils" in info.filename and info.filename.endswith(".py"):
                    files[info.filename.split("module_utils/", 1)[1]] = archive.read(info).count(b"\n")
    return len(data), files


def main():
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar

    init_plugin_loader([collections_root()])

    templar = Templar(loader=DataLoader())
    print("gpuops.mig module payloads (AnsiballZ, ZIP_DEFLATED)")
    print("   %-18s %10s %8s %10s" % ("module", "bytes", "utils", "util lines"))
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "plugins", "modules")) if name.endswith(".py"))
    for name in modules:
        size, files = payload(name, templar)
        print("   %-18s %10d %8d %10d" % (name, size, len(files), sum(files.values())))
        if "-v" in sys.argv:
            for util in sorted(files):
                print("        %-40s %6d" % (util, files[util]))


if __name__ == "__main__":
    main()
