"""The bytecode cache for module_utils run from AnsiballZ's zip: each test imports from a
zip laid out as AnsiballZ lays it out, in a fresh Python, and looks at what it got."""

import importlib.util
import marshal
import os
import stat
import subprocess
import sys
import zipfile

import pytest

from playbook_runner import REPO

PACKAGE = "ansible_collections/gpuops/mig/plugins/module_utils"
CACHE_SOURCE = (REPO / "plugins" / "module_utils" / "_bytecode_cache.py").read_text()
PROBE = "ansible_collections.gpuops.mig.plugins.module_utils._probe"
COUNT_COMPILES = (
    "import builtins\n"
    "import ansible_collections.gpuops.mig.plugins.module_utils._bytecode_cache\n"
    "compiled = []\n"
    "real_compile = builtins.compile\n"
    "builtins.compile = lambda *args, **kwargs: compiled.append(args[1]) or real_compile(*args, **kwargs)\n"
    "import ansible_collections.gpuops.mig.plugins.module_utils._probe\n"
    "print(len(compiled))\n"
)
IMPORT_PROBE = (
    "import ansible_collections.gpuops.mig.plugins.module_utils._bytecode_cache\n"
    "import %s as probe\nprint(probe.VALUE)\n" % PROBE
)


def _package_files(probe_source):
    """{path: source} of the package with the real _bytecode_cache, a probe module, and a
    subpackage whose module the probe may import, laid out as AnsiballZ lays it out."""
    parts = PACKAGE.split("/")
    files = dict(("/".join(parts[:depth]) + "/__init__.py", "") for depth in range(1, len(parts) + 1))
    files.update({
        PACKAGE + "/_bytecode_cache.py": CACHE_SOURCE,
        PACKAGE + "/_probe.py": probe_source,
        PACKAGE + "/_sub/__init__.py": "",
        PACKAGE + "/_sub/leaf.py": "VALUE = 5\n",
    })
    return files


def _payload(path, probe_source):
    """A zip of the package (``_package_files``)."""
    with zipfile.ZipFile(str(path), "w") as payload:
        for name, source in _package_files(probe_source).items():
            payload.writestr(name, source)
    return path


def _tree(path, probe_source):
    """The same package as plain files (as the unit tests and the controller import it)."""
    for name, source in _package_files(probe_source).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(source)
    return path


def _python(payload, cache, script):
    """What ``script`` prints in a fresh Python with ``payload`` on its path and ``cache``,
    run in the payload's directory (where a relative cache path would land)."""
    environment = dict(os.environ, GPUOPS_MIG_BYTECODE_CACHE=str(cache), PYTHONDONTWRITEBYTECODE="1")
    completed = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, %r)\n" % str(payload) + script],
        env=environment, capture_output=True, text=True, check=True, cwd=str(payload.parent),
    )
    return completed.stdout


def _run(payload, cache):
    """The probe's VALUE as a fresh Python imports it from ``payload`` with ``cache``."""
    return int(_python(payload, cache, IMPORT_PROBE))


def _compiles(payload, cache):
    """How many times Python compiles source while importing the probe, which imports the
    subpackage's module (after the cache module is in place)."""
    return int(_python(payload, cache, COUNT_COMPILES))


def _entries(cache):
    return sorted(cache.glob("*.pyc")) if cache.exists() else []


def _forge(entry, source):
    """Replace the code in a cache entry (its header kept) with ``source`` compiled."""
    header_length = len(importlib.util.MAGIC_NUMBER) + 32  # Python's magic, then the source's sha256
    header = entry.read_bytes()[:header_length]
    entry.write_bytes(header + marshal.dumps(compile(source, "forged", "exec")))


@pytest.fixture
def payload(tmp_path):
    return _payload(tmp_path / "payload.zip", "VALUE = 1\n")


def test_the_first_run_compiles_into_a_private_directory(payload, tmp_path):
    cache = tmp_path / "cache"
    assert _run(payload, cache) == 1
    assert len(_entries(cache)) == 1  # the probe (the cache module itself is imported before it is installed)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700


def test_a_later_run_executes_the_cached_code(payload, tmp_path):
    cache = tmp_path / "cache"
    _run(payload, cache)
    _forge(_entries(cache)[0], "VALUE = 2\n")  # proves the entry is what runs
    assert _run(payload, cache) == 2


def test_each_module_is_compiled_once_and_a_cached_run_compiles_nothing(tmp_path):
    payload = _payload(tmp_path / "payload.zip", "from ._sub.leaf import VALUE\n")
    cache = tmp_path / "cache"
    assert _compiles(payload, cache) == 3  # the probe, the subpackage and its module
    assert _compiles(payload, cache) == 0
    assert _run(payload, cache) == 5


def test_a_changed_source_is_compiled_again(payload, tmp_path):
    cache = tmp_path / "cache"
    _run(payload, cache)
    _forge(_entries(cache)[0], "VALUE = 2\n")
    changed = _payload(tmp_path / "changed.zip", "VALUE = 3\n")
    assert _run(changed, cache) == 3
    assert len(_entries(cache)) == 2


@pytest.mark.parametrize("spoil", ["group_writable", "truncated", "symlink"])
def test_an_entry_that_cannot_be_trusted_is_not_used(payload, tmp_path, spoil):
    cache = tmp_path / "cache"
    _run(payload, cache)
    entry = _entries(cache)[0]
    _forge(entry, "VALUE = 2\n")
    if spoil == "group_writable":
        entry.chmod(0o664)
    elif spoil == "truncated":
        entry.write_bytes(entry.read_bytes()[:-3])
    else:
        forged = tmp_path / "elsewhere.pyc"
        entry.rename(forged)
        entry.symlink_to(forged)
    assert _run(payload, cache) == 1


def test_a_directory_others_can_write_is_not_used(payload, tmp_path):
    cache = tmp_path / "cache"
    _run(payload, cache)
    _forge(_entries(cache)[0], "VALUE = 2\n")
    cache.chmod(0o777)
    assert _run(payload, cache) == 1


def test_off_compiles_every_time_and_writes_nothing(payload, tmp_path):
    assert _run(payload, "off") == 1
    assert _run(payload, "off") == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["payload.zip"]


def test_an_unwritable_place_still_runs_the_module(payload, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert _run(payload, blocker / "cache") == 1


COLLECTOR_STATE = (
    "import ansible_collections.gpuops.mig.plugins.module_utils._bytecode_cache\n"
    "import gc\nprint(gc.isenabled(), gc.get_freeze_count() > 0)\n"
)


def test_a_module_run_from_the_zip_collects_no_garbage_until_it_exits(payload, tmp_path):
    """Imported from AnsiballZ's zip, the cache module turns the cyclic collector off and
    freezes what exists (a module process is short-lived); imported from files (unit tests,
    the controller) it leaves the collector alone."""
    assert _python(payload, tmp_path / "cache", COLLECTOR_STATE).split() == ["False", "True"]
    tree = _tree(tmp_path / "tree", "VALUE = 1\n")
    assert _python(tree, tmp_path / "cache", COLLECTOR_STATE).split() == ["True", "False"]
