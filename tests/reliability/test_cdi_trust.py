"""cdi_spec trusts nothing it did not write (issue 16, item 7): the container runtime runs
the hooks of every spec in its CDI directories as root, so a spec in a directory others can
write hands them root; and a spec path may hold another vendor's spec, a file that is no
spec at all, a symlink to anything, or a FIFO."""

import os
import stat
import threading

import pytest
import yaml

from reliability_support import run_module, tree_snapshot

AMD_SPEC = '---\ncdiVersion: 0.5.0\nkind: amd.com/gpu\ndevices:\n  - name: "0"\n    containerEdits:\n      deviceNodes:\n        - path: /dev/kfd\n'


def _present(simulator, path, **options):
    return run_module("cdi_spec", dict({"simulator": simulator, "path": str(path), "hooks": "none"}, **options))


def _in_thread(call, seconds=60):
    """call() in a thread; its result, or None when it is still running after ``seconds``."""
    results = []
    worker = threading.Thread(target=lambda: results.append(call()))
    worker.daemon = True
    worker.start()
    worker.join(seconds)
    return results[0] if results else None


@pytest.mark.parametrize("mode", [0o777, 0o1777, 0o775, 0o757])
def test_a_directory_others_can_write_is_refused(host_factory, tmp_path, mode):
    simulator = host_factory("a30-x4", mig=False)
    shared = tmp_path / "cdi"
    shared.mkdir()
    shared.chmod(mode)
    result = _present(simulator, shared / "nvidia.yaml")
    assert result.get("failed") and result.get("option") == "path", result
    assert "writable by group or others" in result["msg"] and "allow_writable_directory" in result["msg"]
    assert os.listdir(str(shared)) == []
    allowed = _present(simulator, shared / "nvidia.yaml", allow_writable_directory=True)
    assert allowed.get("failed") is not True, allowed.get("msg")
    assert (shared / "nvidia.yaml").is_file()


@pytest.mark.parametrize("mode", [0o777, 0o1777])
def test_a_missing_directory_is_not_created_in_a_shared_one(host_factory, tmp_path, mode):
    """Another user could create it first (their directory then): only root's or ours will do."""
    simulator = host_factory("a30-x4", mig=False)
    (tmp_path / "open").mkdir()
    (tmp_path / "open").chmod(mode)
    result = _present(simulator, tmp_path / "open" / "cdi" / "nvidia.yaml")
    assert result.get("failed") and result.get("option") == "path", result
    assert not (tmp_path / "open" / "cdi").exists()


def test_a_shared_sticky_directory_above_the_spec_directory_is_fine(host_factory, tmp_path):
    """Like /tmp above /tmp/cdi: others cannot rename or remove what is not theirs."""
    simulator = host_factory("a30-x4", mig=False)
    (tmp_path / "sticky" / "cdi").mkdir(parents=True)
    (tmp_path / "sticky").chmod(0o1777)
    result = _present(simulator, tmp_path / "sticky" / "cdi" / "nvidia.yaml")
    assert result.get("failed") is not True, result.get("msg")
    (tmp_path / "sticky").chmod(0o777)
    refused = _present(simulator, tmp_path / "sticky" / "cdi" / "nvidia.yaml")
    assert refused.get("failed") and "mode 0777" in refused["msg"], refused


@pytest.mark.parametrize(
    "content, problem",
    [
        (AMD_SPEC, "kind amd.com/gpu"),
        ("root:x:0:0:root:/root:/bin/bash\n", "not a CDI spec"),
        ("devices: [unclosed\n", "neither valid JSON nor valid YAML"),
    ],
)
def test_present_never_replaces_a_file_that_is_not_its_kind_of_spec_unless_forced(
    host_factory, tmp_path, content, problem
):
    simulator = host_factory("a30-x4", mig=False)
    spec = tmp_path / "nvidia.yaml"
    spec.write_text(content)
    before = tree_snapshot(tmp_path)
    result = _present(simulator, spec)
    assert result.get("failed") and result.get("option") == "path", result
    assert problem in result["msg"] and "force=true" in result["msg"]
    assert tree_snapshot(tmp_path) == before
    forced = _present(simulator, spec, force=True)
    assert forced.get("failed") is not True and forced["changed"] is True, forced.get("msg")
    assert yaml.safe_load(spec.read_text())["kind"] == "nvidia.com/gpu"


def test_present_replaces_a_spec_of_its_own_kind_written_by_another_tool(host_factory, tmp_path):
    """The default path is the file nvidia-ctk's nvidia-cdi-refresh writes: replacing it is the point."""
    simulator = host_factory("a30-x4", mig=False)
    spec = tmp_path / "nvidia.yaml"
    spec.write_text(
        "---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n  - name: gpu0\n    containerEdits:\n"
        "      deviceNodes:\n        - path: /dev/nvidia0\n"
    )
    result = _present(simulator, spec)
    assert result.get("failed") is not True and result["changed"] is True, result.get("msg")


def test_absent_never_removes_another_vendors_spec(tmp_path):
    spec = tmp_path / "amd.yaml"
    spec.write_text(AMD_SPEC)
    for force in (False, True):
        result = run_module("cdi_spec", {"path": str(spec), "state": "absent", "force": force})
        assert result.get("failed") and result.get("option") == "path", result
        assert "amd.com/gpu" in result["msg"]
        assert spec.read_text() == AMD_SPEC


def test_absent_removes_only_the_kind_it_is_given(tmp_path):
    spec = tmp_path / "amd.yaml"
    spec.write_text(AMD_SPEC)
    result = run_module("cdi_spec", {"path": str(spec), "state": "absent", "kind": "amd.com/gpu"})
    assert result["changed"] is True and not spec.exists()


def test_a_symlinked_spec_is_neither_followed_nor_chmodded(host_factory, tmp_path):
    simulator = host_factory("a30-x4", mig=False)
    target = tmp_path / "precious.yaml"
    first = _present(simulator, target, mode="0600")
    assert first.get("failed") is not True, first.get("msg")
    content = target.read_text()
    link = tmp_path / "nvidia.yaml"
    link.symlink_to(target)
    result = _present(simulator, link, mode="0644")  # same content, other mode: used to chmod the target
    assert result.get("failed") and "symbolic link" in result["msg"], result
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_text() == content
    removed = run_module("cdi_spec", {"path": str(link), "state": "absent"})
    assert removed.get("failed") and link.is_symlink() and target.exists(), removed
    forced = _present(simulator, link, mode="0644", force=True)  # replaces the link itself, never the target
    assert forced.get("failed") is not True, forced.get("msg")
    assert not link.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.mark.parametrize("state", ["present", "absent"])
def test_a_fifo_in_place_of_the_spec_never_hangs(host_factory, tmp_path, state):
    simulator = host_factory("a30-x4", mig=False)
    fifo = tmp_path / "nvidia.yaml"
    os.mkfifo(str(fifo))
    result = _in_thread(
        lambda: run_module("cdi_spec", {"simulator": simulator, "path": str(fifo), "state": state, "hooks": "none"})
    )
    assert result is not None, "cdi_spec blocked on a FIFO"
    assert result.get("failed") and "FIFO" in result["msg"], result
    assert stat.S_ISFIFO(os.lstat(str(fifo)).st_mode)


def test_a_huge_file_is_not_read_whole(host_factory, tmp_path):
    simulator = host_factory("a30-x4", mig=False)
    spec = tmp_path / "nvidia.json"
    with open(str(spec), "wb") as handle:
        handle.truncate(64 << 20)  # sparse: 64 MiB of zeros
    result = _present(simulator, spec)
    assert result.get("failed") and "larger than" in result["msg"], result


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(host_factory, tmp_path):
    simulator = host_factory("a30-x4", mig=False)
    spec = tmp_path / "nvidia.yaml"
    levels = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    levels += [
        "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]" % ((i, i) + (i - 1,) * 9) for i in range(1, 9)
    ]
    spec.write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n" + "\n".join(levels) + "\n")
    result = _in_thread(lambda: _present(simulator, spec))
    assert result is not None, "an alias bomb in the spec file was expanded"
    assert result.get("failed") and "aliases" in result["msg"], result
