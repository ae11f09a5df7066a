"""Where the modules find pynvml on a managed host, and how missing or old bindings and bad
wheels are reported (the host, the version, the path and the fix)."""

import sys
import zipfile

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _nvml_bindings

NEW_MODULE = "".join("def %s(): pass\n" % name for name in _nvml_bindings.NEWER_CALLS)
OLD_MODULE = "def nvmlInit(): pass\n"


def _wheel(directory, version, module=NEW_MODULE, name="nvidia_ml_py"):
    path = directory / ("%s-%s-py3-none-any.whl" % (name, version))
    with zipfile.ZipFile(str(path), "w") as archive:
        archive.writestr("pynvml.py", module)
        archive.writestr("example.py", "")
        archive.writestr("%s-%s.dist-info/METADATA" % (name, version), "Metadata-Version: 2.1\nName: nvidia-ml-py\nVersion: %s\n" % version)
    return str(path)


@pytest.fixture
def library_dir(tmp_path, monkeypatch):
    """An empty LIBRARY_DIR, and a fresh `import pynvml` that finds only what the test puts there."""
    directory = tmp_path / "lib"
    directory.mkdir()
    monkeypatch.setattr(_nvml_bindings, "LIBRARY_DIR", str(directory))
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if "site-packages" not in entry])
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    yield directory
    sys.modules.pop("pynvml", None)


def _install(library_dir, wheel):
    for entry in _nvml_bindings.wheel_files(wheel):
        target = library_dir / entry["dest"][len(_nvml_bindings.LIBRARY_DIR) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(entry["content"])


def test_bindings_from_a_wheel_are_found_in_the_library_dir(library_dir, tmp_path):
    _install(library_dir, _wheel(tmp_path, "13.615.71"))
    pynvml, problem, trace = _nvml_bindings.load_pynvml()
    assert problem is None and trace is None
    assert pynvml.__file__ == str(library_dir / "pynvml.py")
    assert _nvml_bindings.installed_version(pynvml.__file__) == "13.615.71"


def test_missing_bindings_name_the_package_and_the_fix(library_dir):
    pynvml, problem, trace = _nvml_bindings.load_pynvml()
    assert pynvml is None and "ModuleNotFoundError" in trace
    assert "pynvml (package nvidia-ml-py) is missing on" in problem and "mig_nvml_wheel" in problem


def test_bindings_without_the_newer_calls_are_too_old(library_dir):
    (library_dir / "pynvml.py").write_text(OLD_MODULE)
    pynvml, problem, _traceback = _nvml_bindings.load_pynvml()
    assert pynvml is None
    assert "nvidia-ml-py of unknown version (%s)" % (library_dir / "pynvml.py") in problem
    assert "too old: it lacks nvmlDeviceGetModuleId" in problem and "mig_nvml_wheel" in problem


def test_an_old_version_is_too_old_even_with_the_calls():
    problem = _nvml_bindings.too_old_problem("/x/pynvml.py", "12.470.1", [])
    assert "nvidia-ml-py 12.470.1 (/x/pynvml.py)" in problem and "needs 12.535 or later" in problem
    assert _nvml_bindings.too_old_problem("/x/pynvml.py", "12.535.77", []) is None
    assert _nvml_bindings.too_old_problem("/x/pynvml.py", None, []) is None


def test_wheel_files_places_pynvml_and_its_metadata(tmp_path):
    files = _nvml_bindings.wheel_files(_wheel(tmp_path, "13.580.65"))
    assert [entry["dest"] for entry in files] == ["/opt/gpuops-mig/lib/pynvml.py",
                                                  "/opt/gpuops-mig/lib/nvidia_ml_py.dist-info/METADATA"]
    assert files[0]["content"] == NEW_MODULE and "Version: 13.580.65" in files[1]["content"]


@pytest.mark.parametrize("make, message", [
    (lambda directory: _wheel(directory, "11.495.46"), "nvidia-ml-py 11.495.46 is too old; gpuops.mig needs 12.535 or later"),
    (lambda directory: _wheel(directory, "2.0", name="pynvml_utils"), "not an nvidia-ml-py wheel"),
    (lambda directory: str(directory / "missing.whl"), "not a readable wheel"),
])
def test_bad_wheels_are_refused_naming_the_file(tmp_path, make, message):
    wheel = make(tmp_path)
    with pytest.raises(ValueError) as raised:
        _nvml_bindings.wheel_files(wheel)
    assert str(raised.value).startswith("mig_nvml_wheel=%s: " % wheel) and message in str(raised.value)
