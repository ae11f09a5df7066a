"""Driver files in the spec: discovery from a driver root (the captured H200's file list
and the simulator's driver), SONAME mounts that work without the container toolkit, the
toolkit's hooks when it is there, device node numbers, management mode, bad driver roots."""

import os
import struct
import threading

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi, _cdi_driver
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import driver_files
from cdi_hosts import CAPTURE_VERSION, capture_driver_root, dgx_h100_full, dgx_h100_mixed, driver_mig_minors

LIBDIR = "/usr/lib/" + _cdi_driver.triplet()


@pytest.fixture
def capture_root(tmp_path):
    return capture_driver_root(tmp_path)


def _mounts(spec):
    return dict((mount["containerPath"], mount["hostPath"]) for mount in spec["containerEdits"]["mounts"])


def _capture_spec(capture_root, **options):
    gpus, migs = dgx_h100_mixed()
    driver = _cdi_driver.discover(capture_root, CAPTURE_VERSION)
    return _cdi.build_spec(gpus, migs, mig_minors=_cdi.parse_mig_minors(driver_mig_minors()), driver=driver, **options)


def test_capture_spec_mounts_the_driver_libraries_and_their_so_1_links(capture_root, official_schema):
    spec = _capture_spec(capture_root)
    mounts = _mounts(spec)
    lib64 = os.path.join(capture_root, "lib64")
    for library in ("libcuda.so", "libnvidia-ml.so"):
        versioned = "%s.%s" % (library, CAPTURE_VERSION)
        assert mounts[LIBDIR + "/" + versioned] == os.path.join(lib64, versioned)
        assert mounts[LIBDIR + "/" + library + ".1"] == os.path.join(lib64, versioned)
    assert mounts[LIBDIR + "/libnvidia-nvvm.so.4"] == os.path.join(lib64, "libnvidia-nvvm.so." + CAPTURE_VERSION)
    # a library whose SONAME is its versioned name has no extra link
    assert not [
        path for path in mounts if path.startswith(LIBDIR + "/libnvidia-glcore.so.") and CAPTURE_VERSION not in path
    ]
    # hostPath under the driver root, container paths without it
    assert all(host.startswith(capture_root + "/") for host in mounts.values())
    assert not [path for path in mounts if capture_root in path or "/usr/local/nvidia" in path]
    assert mounts["/usr/bin/nvidia-smi"] == os.path.join(capture_root, "bin", "nvidia-smi")
    assert mounts["/usr/bin/nvidia-cuda-mps-server"] == os.path.join(capture_root, "bin", "nvidia-cuda-mps-server")
    firmware = "/lib/firmware/nvidia/%s/gsp_ga10x.bin" % CAPTURE_VERSION
    assert mounts[firmware] == os.path.join(capture_root, "firmware", "nvidia", CAPTURE_VERSION, "gsp_ga10x.bin")
    assert "NVIDIA_CTK_LIBCUDA_DIR=" + LIBDIR in spec["containerEdits"]["env"]
    assert _cdi.spec_problems(spec) == []
    assert [error.message for error in official_schema.iter_errors(spec)] == []


def test_every_capture_library_is_mounted_once_although_lib_links_to_lib64(capture_root):
    driver = _cdi_driver.discover(capture_root, CAPTURE_VERSION)
    names = [library.name for library in driver.libraries]
    assert len(names) == len(set(names)) == 26
    assert all(name.endswith(".so." + CAPTURE_VERSION) for name in names)
    paths = [mount["containerPath"] for mount in _cdi.driver_mounts(driver)]
    assert len(paths) == len(set(paths))


def test_without_a_hook_binary_there_are_no_hooks_and_with_one_nvidia_ctk_s_hooks(capture_root):
    assert "hooks" not in _capture_spec(capture_root)["containerEdits"]
    hooks = _capture_spec(capture_root, hook_path="/usr/bin/nvidia-cdi-hook")["containerEdits"]["hooks"]
    assert [hook["args"] for hook in hooks] == [
        [
            "nvidia-cdi-hook",
            "create-symlinks",
            "--link",
            "libcuda.so.1::%s/libcuda.so" % LIBDIR,
            "--link",
            "libGLX_nvidia.so.%s::%s/libGLX_indirect.so.0" % (CAPTURE_VERSION, LIBDIR),
            "--link",
            "libnvidia-opticalflow.so.1::%s/libnvidia-opticalflow.so" % LIBDIR,
        ],
        ["nvidia-cdi-hook", "enable-cuda-compat", "--host-driver-version=" + CAPTURE_VERSION],
        ["nvidia-cdi-hook", "update-ldcache", "--folder", LIBDIR],
        ["nvidia-cdi-hook", "disable-device-node-modification"],
    ]
    assert all(hook["hookName"] == "createContainer" and hook["path"] == "/usr/bin/nvidia-cdi-hook" for hook in hooks)
    ctk = _capture_spec(capture_root, hook_path="/usr/local/bin/nvidia-ctk")["containerEdits"]["hooks"]
    assert ctk[2]["args"] == ["nvidia-ctk", "hook", "update-ldcache", "--folder", LIBDIR]


def test_hook_binary_is_found_on_the_host_preferring_nvidia_cdi_hook(tmp_path):
    assert _cdi_driver.find_hook_binary([str(tmp_path)]) is None
    for name in ("nvidia-ctk", "nvidia-cdi-hook"):
        (tmp_path / name).write_text("#!/bin/sh\n")
    assert _cdi_driver.find_hook_binary([str(tmp_path)]) is None  # not executable
    for name in ("nvidia-ctk", "nvidia-cdi-hook"):
        (tmp_path / name).chmod(0o755)
    assert _cdi_driver.find_hook_binary([str(tmp_path)]) == str(tmp_path / "nvidia-cdi-hook")


def test_a_driver_root_without_a_driver_names_what_was_looked_for(tmp_path):
    with pytest.raises(InputError) as raised:
        _cdi_driver.discover(str(tmp_path), CAPTURE_VERSION)
    message = str(raised.value)
    assert raised.value.option == "driver_root"
    assert "libcuda.so.580.159.04" in message and "libnvidia-ml.so.580.159.04" in message
    assert os.path.join(str(tmp_path), "usr/lib64") in message and "ld.so.cache" in message


def test_nvml_and_driver_files_of_different_versions_fail_naming_both(capture_root):
    with pytest.raises(InputError) as raised:
        _cdi_driver.discover(capture_root, "590.1.2")
    assert raised.value.option == "driver_root"
    assert "590.1.2" in str(raised.value) and "libcuda.so.580.159.04" in str(raised.value)


def _ldcache(paths):
    """A glibc ld.so.cache (new format) listing ``paths``."""
    strings = b""
    offsets = []
    header = 48 + 24 * len(paths)
    for path in paths:
        offsets.append(header + len(strings))
        strings += path.encode() + b"\0"
    data = b"glibc-ld.so.cache1.1" + struct.pack("<IIB3xI12x", len(paths), len(strings), 2, 0)
    for offset in offsets:
        data += struct.pack("<iIIIQ", 0x0303, offset, offset, 0, 0)
    return data + strings


def test_libraries_outside_the_standard_directories_are_found_through_the_ldcache(tmp_path):
    libdir = tmp_path / "opt" / "vendor" / "lib"
    libdir.mkdir(parents=True)
    (libdir / "libcuda.so.580.159.04").write_bytes(driver_files.shared_object("libcuda.so.1"))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "ld.so.cache").write_bytes(
        _ldcache(["/opt/vendor/lib/libcuda.so.580.159.04", "/lib/libc.so.6"])
    )
    driver = _cdi_driver.discover(str(tmp_path), CAPTURE_VERSION)
    assert driver.libraries == [
        _cdi_driver.Library("libcuda.so.580.159.04", str(libdir / "libcuda.so.580.159.04"), "libcuda.so.1")
    ]


def test_a_driver_outside_the_standard_directories_is_found_through_the_ldcache_s_links(tmp_path):
    """The captured host: driver root /, driver in /usr/local/nvidia/lib64, which only
    ld.so.conf.d names; its ldcache lists libcuda.so.1, not libcuda.so.580.159.04."""
    capture_driver_root(tmp_path)
    cached = ["/usr/local/nvidia/lib64/%s.so.1" % name for name in ("libcuda", "libnvidia-ml")]
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "ld.so.cache").write_bytes(_ldcache(cached))
    driver = _cdi_driver.discover(str(tmp_path), CAPTURE_VERSION)
    lib64 = str(tmp_path / "usr" / "local" / "nvidia" / "lib64")
    assert [(library.name, library.host_path, library.soname) for library in driver.libraries] == [
        ("%s.so.%s" % (name, CAPTURE_VERSION), "%s/%s.so.%s" % (lib64, name, CAPTURE_VERSION), name + ".so.1")
        for name in ("libcuda", "libnvidia-ml")
    ]


def test_sonames_are_read_from_the_elf_file(tmp_path):
    library = tmp_path / "libnvidia-nvvm.so.580.159.04"
    library.write_bytes(driver_files.shared_object("libnvidia-nvvm.so.4"))
    assert _cdi_driver.elf_soname(str(library)) == "libnvidia-nvvm.so.4"
    library.write_bytes(b"\x7fELF\x02\x01 truncated")
    assert _cdi_driver.elf_soname(str(library)) is None


def test_a_fifo_in_the_driver_root_is_never_opened_for_reading(tmp_path):
    fifo = tmp_path / "usr" / "lib64"
    fifo.mkdir(parents=True)
    os.mkfifo(str(fifo / "libcuda.so.580.159.04"))
    (tmp_path / "etc").mkdir()
    os.mkfifo(str(tmp_path / "etc" / "ld.so.cache"))
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_safe_discover(str(tmp_path))))
    worker.daemon = True
    worker.start()
    worker.join(30)
    assert outcome and isinstance(outcome[0], InputError), "discovery blocked on a FIFO"


def _safe_discover(root):
    try:
        return _cdi_driver.discover(root, CAPTURE_VERSION)
    except InputError as error:
        return error


def test_simulated_driver_root_has_real_elf_libraries_binaries_and_firmware(tmp_path):
    state = {
        "root": str(tmp_path),
        "driver_version": "570.172.08",
        "gpus": [{"index": 0, "board": "H100-SXM5-80GB", "uuid": "GPU-1"}],
    }
    driver_files.build_tree(state)
    driver = _cdi_driver.discover(driver_files.driver_root(str(tmp_path)), "570.172.08")
    sonames = dict((library.name, library.soname) for library in driver.libraries)
    assert sonames["libcuda.so.570.172.08"] == "libcuda.so.1"
    assert sonames["libnvidia-glcore.so.570.172.08"] == "libnvidia-glcore.so.570.172.08"
    assert [name for name, path in driver.binaries][:2] == ["nvidia-smi", "nvidia-debugdump"]
    assert [relative for relative, path in driver.firmware] == [
        "nvidia/570.172.08/gsp_ga10x.bin",
        "nvidia/570.172.08/gsp_tu10x.bin",
    ]
    smi = dict(driver.binaries)["nvidia-smi"]
    assert "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)" in open(smi).read()
    assert _cdi.read_device_majors(str(tmp_path / "proc" / "devices")) == {
        "nvidia-frontend": 195,
        "nvidia-uvm": 238,
        "nvidia-caps": 241,
    }


def test_nodes_that_are_not_character_devices_get_the_driver_s_numbers(tmp_path):
    (tmp_path / "dev" / "nvidia-caps").mkdir(parents=True)
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "devices").write_text(
        "Character devices:\n195 nvidia\n508 nvidia-uvm\n234 nvidia-caps\n\nBlock devices:\n  8 sd\n"
    )
    numbers = _cdi.node_numbers_for(str(tmp_path))
    assert numbers("/dev/nvidia3") == {"type": "c", "major": 195, "minor": 3}
    assert numbers("/dev/nvidiactl") == {"type": "c", "major": 195, "minor": 255}
    assert numbers("/dev/nvidia-uvm-tools") == {"type": "c", "major": 508, "minor": 1}
    assert numbers("/dev/nvidia-caps/nvidia-cap22") == {"type": "c", "major": 234, "minor": 22}
    (tmp_path / "proc" / "devices").write_text("Character devices:\n  1 mem\n")
    with pytest.raises(_cdi.CdiError) as raised:
        _cdi.node_numbers_for(str(tmp_path))("/dev/nvidia0")
    assert "nvidia-frontend" in str(raised.value) and "proc/devices" in str(raised.value)


def test_existing_character_devices_are_left_to_the_runtime_to_stat(tmp_path):
    """As nvidia-ctk writes them: path (and hostPath), the runtime reads type and numbers."""
    (tmp_path / "dev").mkdir()
    os.symlink("/dev/null", str(tmp_path / "dev" / "nvidia0"))  # a character device, whatever its numbers
    assert _cdi.node_numbers_for(str(tmp_path))("/dev/nvidia0") == {}


def test_management_spec_has_one_all_device_with_every_gpu_and_capability_node(capture_root):
    gpus, migs = dgx_h100_mixed()
    spec = _cdi.build_spec(
        gpus,
        migs,
        kind=_cdi.MANAGEMENT_KIND,
        discovery_mode="management",
        capability_nodes=["/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-caps/nvidia-cap2"],
        driver=_cdi_driver.discover(capture_root, CAPTURE_VERSION),
    )
    assert [device["name"] for device in spec["devices"]] == ["all"]
    paths = [node["path"] for node in spec["devices"][0]["containerEdits"]["deviceNodes"]]
    assert paths == ["/dev/nvidia%d" % index for index in range(8)] + [
        "/dev/nvidia-caps/nvidia-cap1",
        "/dev/nvidia-caps/nvidia-cap2",
    ]
    assert spec["kind"] == "management.nvidia.com/gpu" and _cdi.spec_problems(spec) == []


def test_capability_nodes_present_under_dev_root_in_minor_order(tmp_path):
    caps = tmp_path / "dev" / "nvidia-caps"
    caps.mkdir(parents=True)
    for name in ("nvidia-cap22", "nvidia-cap2", "nvidia-cap1", "stray"):
        (caps / name).write_text("")
    assert _cdi.present_capability_nodes(str(tmp_path)) == [
        "/dev/nvidia-caps/nvidia-cap1",
        "/dev/nvidia-caps/nvidia-cap2",
        "/dev/nvidia-caps/nvidia-cap22",
    ]


def test_full_gpu_spec_with_a_driver_has_no_duplicate_mounts(capture_root):
    gpus, migs = dgx_h100_full()
    spec = _cdi.build_spec(gpus, migs, driver=_cdi_driver.discover(capture_root, CAPTURE_VERSION))
    paths = [mount["containerPath"] for mount in spec["containerEdits"]["mounts"]]
    assert len(paths) == len(set(paths))
