"""Bad managed hosts, on real systemd containers over SSH (tests/hosts/hostctl.py): a host
without python3, a host where become fails, and a host whose nvidia-ml-py is too old. Each
run of the mig role fails with a message that names the host, what is wrong and the fix,
and leaves the host as it was.

Needs podman, runc and the managed-host image (`make host-image`); skipped without them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from playbook_runner import REPO, ansible_env

HOSTCTL = REPO / "tests" / "hosts" / "hostctl.py"
WHEELS = REPO / "build" / "hosts" / "wheels"
OLD_WHEEL = sorted(WHEELS.glob("nvidia_ml_py-11.*.whl"))
#: host name: (hostctl arguments, inventory variables)
HOSTS = {
    "gpuops-no-python": (["--port", "2331", "--flaw", "no-python"], {}),
    "gpuops-no-sudo": (["--port", "2332", "--flaw", "no-sudo"], {}),
    "gpuops-old-nvml": (["--port", "2333"] + (["--old-nvml", str(OLD_WHEEL[0])] if OLD_WHEEL else []),
                        {"mig_nvml_wheel": ""}),
}


def _image_ready():
    if not shutil.which("podman"):
        return False
    image = subprocess.run(["bash", str(REPO / "tests" / "hosts" / "image-name.sh")], capture_output=True, text=True, check=False).stdout.strip()
    return subprocess.run(["podman", "image", "exists", image], check=False).returncode == 0


pytestmark = pytest.mark.skipif(not (_image_ready() and OLD_WHEEL), reason="needs podman and `make host-image`")


def _podman_exec(host, *argv):
    return subprocess.run(["podman", "exec", host] + list(argv), capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def bad_hosts(tmp_path_factory):
    try:
        for host, (arguments, _variables) in HOSTS.items():
            subprocess.run([sys.executable, str(HOSTCTL), "up", host] + arguments, check=True, capture_output=True, text=True)
        inventory = tmp_path_factory.mktemp("inventory")
        (inventory / "group_vars").symlink_to(REPO / "inventories" / "hosts" / "group_vars")
        (inventory / "hosts.yml").write_text(json.dumps({"all": {"hosts": {
            host: dict(variables, ansible_port=int(arguments[1])) for host, (arguments, variables) in HOSTS.items()}}}))
        yield inventory
    finally:
        subprocess.run([sys.executable, str(HOSTCTL), "down"] + list(HOSTS), capture_output=True, check=False)


@pytest.fixture(scope="module")
def failures(bad_hosts, tmp_path_factory):
    """The last (failed) task result of every host after one run of the mig role."""
    tree = tmp_path_factory.mktemp("results")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(bad_hosts / "hosts.yml"),
         "-e", json.dumps({"gpuops_mig_repository": str(REPO)}), str(REPO / "tests" / "hosts" / "playbooks" / "apply_mig.yml")],
        env=ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree", ANSIBLE_CALLBACK_TREE_DIR=str(tree)),
        capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode != 0, run.stdout
    return {host: json.loads((tree / host).read_text()) for host in HOSTS}


def _unchanged(host):
    """Nothing of the collection's is on the host, and its GPU clients still run."""
    assert _podman_exec(host, "test", "-e", "/opt/gpuops-mig").returncode == 1
    assert _podman_exec(host, "test", "-e", "/var/run/cdi/nvidia.yaml").returncode == 1
    assert _podman_exec(host, "systemctl", "is-active", "nvidia-dcgm", "nvidia-k8s-device-plugin").stdout.split() == ["active", "active"]


def test_a_host_without_python_is_named_with_the_fix(failures):
    failure = failures["gpuops-no-python"]
    assert failure["msg"].startswith("gpuops-no-python cannot run Ansible modules: no Python interpreter")
    assert "install python3" in failure["msg"] and "ansible_python_interpreter" in failure["msg"]
    _unchanged("gpuops-no-python")


def test_a_host_where_become_fails_is_named_with_the_fix(failures):
    failure = failures["gpuops-no-sudo"]
    assert failure["msg"].startswith("gpuops-no-sudo refused to run modules as root through become")
    assert "sudo without a password" in failure["msg"] and "ansible_become_password" in failure["msg"]
    _unchanged("gpuops-no-sudo")


def test_a_host_with_too_old_nvml_bindings_is_named_with_the_fix(failures):
    failure = failures["gpuops-old-nvml"]
    assert "nvidia-ml-py 11.495.46 (/usr/lib/python3/dist-packages/pynvml.py) on gpuops-old-nvml is too old" in failure["msg"]
    assert "nvmlDeviceGetModuleId" in failure["msg"] and "mig_nvml_wheel" in failure["msg"]
    _unchanged("gpuops-old-nvml")
