"""A real container engine uses the spec cdi_spec writes (issue 14): podman starts a
container from the managed-host image of the real-host tests (Debian, built locally) with
``--device <kind>=0:1`` (a MIG device of a simulated DGX H100), without the NVIDIA
Container Toolkit, and the test looks inside: the MIG device's capability nodes and parent
node as character devices (only those), the simulated driver's nvidia-smi, and
libcuda.so.1 / libnvidia-ml.so.1 resolved by the container's own dynamic linker.

Needs root (runc creates the spec's device nodes with mknod), podman with runc, and
mmdebstrap for the image (``make container-deps`` installs them on Debian; ``make
host-image`` builds the image once, or this test does). The test skips, saying why, only
when podman cannot run here (missing, not root, or not able to start even a plain
container).
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from playbook_runner import REPO, run_playbook

PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "podman_cdi.yml"
HOST_IMAGE_SCRIPTS = REPO / "tests" / "hosts"
#: Options this engine needs here: runc (creates CDI device nodes), explicit ulimits, no network.
PODMAN_RUN = [
    "run",
    "--rm",
    "--network",
    "none",
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
]
#: Where podman reads specs when it has no --cdi-spec-dir (podman before 4.7, e.g. Debian 12's 4.3).
RUNTIME_CDI_DIR = Path("/var/run/cdi")


def _run(argv, timeout=600, **options):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **options)


@pytest.fixture(scope="module")
def podman():
    """podman's argv prefix; skips (with the reason) when podman cannot run containers here."""
    missing = [tool for tool in ("podman", "runc") if shutil.which(tool) is None]
    if missing:
        pytest.skip("%s not installed: `make container-deps` installs podman, runc and mmdebstrap" % ", ".join(missing))
    if os.geteuid() != 0:
        pytest.skip("needs root: rootless podman bind-mounts device nodes from the host instead of creating them")
    info = _run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], timeout=120)
    if info.returncode != 0:
        pytest.skip("podman cannot run here: %s" % info.stderr.strip()[-500:])
    return ["podman"]


@pytest.fixture(scope="module")
def image(podman):
    """The managed-host image of the real-host tests (tests/hosts/build-image.sh: Debian
    bookworm from Debian packages, built once and kept by podman)."""
    name = _run(["bash", str(HOST_IMAGE_SCRIPTS / "image-name.sh")]).stdout.strip()
    if _run(podman + ["image", "exists", name]).returncode != 0:
        if shutil.which("mmdebstrap") is None:
            pytest.fail("mmdebstrap is missing and %s is not built: run `make host-image`" % name)
        built = _run(["bash", str(HOST_IMAGE_SCRIPTS / "build-image.sh")], stdin=subprocess.DEVNULL, timeout=900)
        assert built.returncode == 0, built.stdout[-1000:] + built.stderr[-3000:]
        print(built.stdout.strip())
    plain = _run(podman + PODMAN_RUN + [name, "/bin/true"], timeout=300)
    if plain.returncode != 0:
        pytest.skip("podman cannot start any container here (no CDI involved): %s" % plain.stderr.strip()[-500:])
    return name


def _spec_location(podman, tmp_path):
    """(spec path, extra podman options): the test's own directory where podman takes
    --cdi-spec-dir, else a uniquely named file in /var/run/cdi (removed afterwards)."""
    if "--cdi-spec-dir" in _run(podman + ["--help"]).stdout:
        return tmp_path / "cdi" / "gpuops-mig-test.yaml", ["--cdi-spec-dir", str(tmp_path / "cdi")]
    return RUNTIME_CDI_DIR / ("gpuops-mig-test-%s.yaml" % uuid.uuid4().hex[:12]), []


CHECKS = r"""
for node in "$@"; do
  if [ -c "$node" ]; then echo "char $node $(stat -c '%t:%T' "$node")"; else echo "missing $node"; fi
done
echo "nodes: $(ls /dev/nvidia-caps | tr '\n' ' ')"
echo "gpus: $(ls -d /dev/nvidia[0-9]* | tr '\n' ' ')"
nvidia-smi -L
for library in libcuda.so.1 libnvidia-ml.so.1; do
  /lib64/ld-linux-x86-64.so.2 --preload "$library" --list /bin/true | grep "$library"
done
"""


def test_a_plain_container_gets_its_mig_device_driver_binaries_and_libraries(podman, image, tmp_path):
    kind = "gpuops-test-%s.example.com/gpu" % uuid.uuid4().hex[:8]
    spec_path, podman_options = _spec_location(podman, tmp_path)
    simulator = tmp_path / "dgx-h100.json"
    result_file = tmp_path / "result.json"
    try:
        played = run_playbook(
            PLAYBOOK,
            extra_vars={
                "simulator": str(simulator),
                "spec_path": str(spec_path),
                "spec_kind": kind,
                "result_file": str(result_file),
            },
        )
        assert played.returncode == 0, played.stdout[-3000:] + played.stderr[-3000:]
        assert json.loads(result_file.read_text())["devices"] == [
            "0:0",
            "0:1",
            "1",
            "2",
            "3",
            "4",
            "5",
            "6",
            "7",
            "all",
        ]
        spec = yaml.safe_load(spec_path.read_text())
        assert "hooks" not in spec["containerEdits"]  # works without the NVIDIA Container Toolkit
        nodes = dict((device["name"], device["containerEdits"]["deviceNodes"]) for device in spec["devices"])
        wanted = nodes["0:1"]
        started = time.monotonic()
        ran = _run(
            podman
            + PODMAN_RUN
            + podman_options
            + ["--device", kind + "=0:1", image, "/bin/sh", "-c", CHECKS, "checks"]
            + [node["path"] for node in wanted]
        )
        print("podman run: %.1f s" % (time.monotonic() - started))
    finally:
        if spec_path.parent == RUNTIME_CDI_DIR and spec_path.exists():
            spec_path.unlink()
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    # the MIG device's parent and capability nodes, as the driver numbers them, and no other
    majors = dict(
        (line.split()[1], int(line.split()[0]))
        for line in (simulator.parent / (simulator.name + ".root") / "proc" / "devices").read_text().splitlines()[1:]
    )
    for node in wanted:
        major = majors["nvidia-caps" if "nvidia-caps" in node["path"] else "nvidia-frontend"]
        assert "char %s %x:%x" % (node["path"], major, node["minor"]) in lines
    caps = sorted(os.path.basename(node["path"]) for node in wanted if "nvidia-caps" in node["path"])
    assert "nodes: %s " % " ".join(caps) in lines
    assert "gpus: /dev/nvidia0 " in lines  # /dev/nvidia1.. of the other GPUs are not in the container
    assert caps != sorted(os.path.basename(node["path"]) for node in nodes["0:0"] if "nvidia-caps" in node["path"])
    # the simulated driver's nvidia-smi, mounted from the simulated driver root
    smi_header = [line for line in lines if line.startswith("NVIDIA-SMI ")]
    assert smi_header and "gpuops.mig simulated driver" in smi_header[0]
    assert [line for line in lines if line.startswith("GPU 0: NVIDIA H100")]
    # the dynamic linker of the image finds the driver libraries by SONAME, without ldconfig
    for library in ("libcuda.so.1", "libnvidia-ml.so.1"):
        assert [line for line in lines if line.strip().startswith("%s => /" % library)], ran.stdout
