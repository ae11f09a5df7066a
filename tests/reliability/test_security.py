"""Security: no shell strings, atomic writes with explicit modes, user paths checked.

The source scans walk the AST of every Python file under plugins/, so they see calls
however they are formatted; each scanner is first shown to catch a planted violation, so
a scanner that silently finds nothing fails too.
"""

import ast
import os
import stat
from pathlib import Path

import pytest

from reliability_support import run_module, tree_snapshot

REPO = Path(__file__).resolve().parents[2]
PLUGIN_FILES = sorted((REPO / "plugins").rglob("*.py"))

#: Functions that run a shell or take one command string.
SHELL_FUNCTIONS = {
    ("os", "system"),
    ("os", "popen"),
    ("os", "popen2"),
    ("os", "popen3"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("commands", "getoutput"),
    ("commands", "getstatusoutput"),
    ("platform", "popen"),
    ("pty", "spawn"),
}
SHELL_FUNCTION_PREFIXES = (("os", "spawn"), ("os", "exec"))

#: Calls whose first argument is a command: it must be an argument list.
COMMAND_RUNNERS = {"run", "call", "check_call", "check_output", "Popen", "run_command", "_run_command"}

WRITE_MODES = set("wax+")


def _dotted(node):
    """("os", "system") for os.system, ("", "open") for open, None otherwise."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    if isinstance(node, ast.Name):
        return "", node.id
    if isinstance(node, ast.Attribute):
        return "?", node.attr
    return None


def _is_string_expression(node):
    """Whether ``node`` evidently builds a string: a literal, f-string, % or + with a
    string, str.format / str.join, or str()."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _is_string_expression(node.left) or _is_string_expression(node.right)
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        if name and name[1] in ("format", "join") and isinstance(node.func, ast.Attribute):
            return _is_string_expression(node.func.value) or name[1] == "format"
        if name == ("", "str"):
            return True
    return False


def shell_violations(source, filename="<source>"):
    """Every place in ``source`` that runs a shell or passes a command as a string."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        where = "%s:%d" % (filename, node.lineno)
        for keyword in node.keywords:
            if keyword.arg in ("shell", "use_unsafe_shell") and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            ):
                found.append("%s %s=%s" % (where, keyword.arg, ast.unparse(keyword.value)))
        name = _dotted(node.func)
        if name is None:
            continue
        if name in SHELL_FUNCTIONS or any(name[0] == module and name[1].startswith(prefix) for module, prefix in SHELL_FUNCTION_PREFIXES):
            found.append("%s %s.%s()" % (where, name[0], name[1]))
        if name[1] in COMMAND_RUNNERS:
            command = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in ("args", "argv")), None)
            if command is not None and _is_string_expression(command):
                found.append("%s %s(%s): command given as a string" % (where, name[1], ast.unparse(command)))
    return found


def _enclosing_functions(tree):
    """(function node, [call nodes inside it]) for every function of ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, [call for call in ast.walk(node) if isinstance(call, ast.Call)]


def _open_mode(call):
    if len(call.args) >= 2:
        mode = call.args[1]
    else:
        mode = next((k.value for k in call.keywords if k.arg == "mode"), None)
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else None


def write_violations(source, filename="<source>"):
    """Places in ``source`` that write files in place or without an explicit mode:
    open() for writing; a temp file not chmod-ed and renamed in the same function;
    os.makedirs without a mode; os.open(O_CREAT) without a mode."""
    found = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        where = "%s:%d" % (filename, node.lineno)
        if name in (("", "open"), ("io", "open"), ("codecs", "open")):
            mode = _open_mode(node)
            if mode is None and (len(node.args) >= 2 or any(k.arg == "mode" for k in node.keywords)):
                found.append("%s open() with a computed mode" % where)
            elif mode and WRITE_MODES & set(mode):
                found.append("%s open(..., %r) writes in place" % (where, mode))
        if name == ("os", "makedirs") and len(node.args) < 2 and not any(k.arg == "mode" for k in node.keywords):
            found.append("%s os.makedirs() without a mode" % where)
        if name == ("os", "open") and "O_CREAT" in ast.unparse(node) and len(node.args) < 3:
            found.append("%s os.open(O_CREAT) without a mode" % where)
        if name in (("tempfile", "NamedTemporaryFile"), ("", "NamedTemporaryFile")):
            found.append("%s NamedTemporaryFile (use mkstemp + chmod + rename)" % where)
    for function, calls in _enclosing_functions(tree):
        names = set(_dotted(call.func) for call in calls)
        if ("tempfile", "mkstemp") in names:
            if ("os", "chmod") not in names:
                found.append("%s:%d %s(): temp file without an explicit chmod" % (filename, function.lineno, function.name))
            if not names & {("os", "rename"), ("os", "replace")}:
                found.append("%s:%d %s(): temp file never renamed into place" % (filename, function.lineno, function.name))
    return found


# ----------------------------------------------------------------------------- the scanners work


@pytest.mark.parametrize(
    "planted",
    [
        "import subprocess\nsubprocess.run('nvidia-smi -r', shell=True)",
        "import subprocess\nsubprocess.Popen(cmd, shell=flag)",
        "import os\nos.system('nvidia-smi')",
        "import os\nos.popen('ls')",
        "import os\nos.execvp('sh', ['sh'])",
        "import subprocess\nsubprocess.check_output('systemctl stop %s' % unit)",
        "import subprocess\nsubprocess.call(f'nvidia-smi -i {index}')",
        "import subprocess\nsubprocess.run(' '.join(argv))",
        "module.run_command('systemctl stop ' + unit)",
        "module.run_command(['ls'], use_unsafe_shell=True)",
    ],
)
def test_the_shell_scanner_catches_a_planted_shell_string(planted):
    assert shell_violations(planted)


@pytest.mark.parametrize(
    "planted",
    [
        "def f(path):\n    with open(path, 'w') as h:\n        h.write('x')",
        "def f(path):\n    open(path, mode='a').write('x')",
        "import os\ndef f(d):\n    os.makedirs(d)",
        "import os\ndef f(p):\n    os.open(p, os.O_CREAT | os.O_WRONLY)",
        "import os, tempfile\ndef f(p):\n    fd, tmp = tempfile.mkstemp()\n    os.rename(tmp, p)",
        "import os, tempfile\ndef f(p):\n    fd, tmp = tempfile.mkstemp()\n    os.chmod(tmp, 0o644)",
    ],
)
def test_the_write_scanner_catches_a_planted_unsafe_write(planted):
    assert write_violations(planted)


def test_the_scanners_accept_the_safe_forms():
    safe = (
        "import os, subprocess, tempfile\n"
        "def run(argv):\n    return subprocess.run(['systemctl', 'stop'] + argv, shell=False)\n"
        "def write(path, text):\n"
        "    fd, tmp = tempfile.mkstemp(dir='.')\n"
        "    with os.fdopen(fd, 'w') as h:\n        h.write(text)\n"
        "    os.chmod(tmp, 0o644)\n    os.rename(tmp, path)\n"
        "def read(path):\n    with open(path, 'r') as h:\n        return h.read()\n"
    )
    assert shell_violations(safe) == [] and write_violations(safe) == []


# ----------------------------------------------------------------------------- the plugins


def test_plugins_exist_to_be_scanned():
    assert len(PLUGIN_FILES) > 20


def test_no_plugin_runs_a_shell_or_passes_a_command_string():
    found = []
    for path in PLUGIN_FILES:
        found += shell_violations(path.read_text(), str(path.relative_to(REPO)))
    assert found == []


def test_no_plugin_writes_a_file_in_place_or_without_an_explicit_mode():
    found = []
    for path in PLUGIN_FILES:
        found += write_violations(path.read_text(), str(path.relative_to(REPO)))
    assert found == []


#: The one place code is loaded and run: the module_utils bytecode cache, which reads back
#: only entries its own user wrote in a private directory (tests/unit/core/test_bytecode_cache.py
#: plants the entries it must refuse). Named by file and function so that no other call passes.
SANCTIONED_CODE_LOADING = {
    ("plugins/module_utils/_bytecode_cache.py", "exec_module", "exec"),
    ("plugins/module_utils/_bytecode_cache.py", "_read_entry", "marshal.loads"),
}


def test_no_plugin_evaluates_or_unpickles_data():
    found = []
    for path in PLUGIN_FILES:
        relative = str(path.relative_to(REPO))
        tree = ast.parse(path.read_text(), str(path))
        for node, function in _calls_with_their_function(tree):
            name = _dotted(node.func)
            if name in (("", "eval"), ("", "exec"), ("pickle", "loads"), ("pickle", "load"), ("marshal", "loads")):
                if (relative, function, ast.unparse(node.func)) not in SANCTIONED_CODE_LOADING:
                    found.append("%s:%d %s" % (relative, node.lineno, ast.unparse(node.func)))
            if name == ("yaml", "load") and not _safe_yaml_loader(path, node):
                found.append("%s:%d yaml.load without a safe loader" % (relative, node.lineno))
    assert found == []


def _calls_with_their_function(tree):
    """(call node, name of the innermost function around it, or "<module>")."""
    enclosing = {}
    for function in ast.walk(tree):  # breadth first: an inner function overrides its outer one
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                enclosing[node] = function.name
    return [(node, enclosing.get(node, "<module>")) for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _safe_yaml_loader(path, call):
    """Whether a yaml.load call's Loader is PyYAML's SafeLoader or a subclass of it."""
    import importlib

    import yaml

    loader = next((k.value for k in call.keywords if k.arg == "Loader"), call.args[1] if len(call.args) > 1 else None)
    if not isinstance(loader, (ast.Name, ast.Attribute)):
        return False
    dotted = ".".join(("ansible_collections", "gpuops", "mig") + path.relative_to(REPO).with_suffix("").parts)
    module = importlib.import_module(dotted)
    value = getattr(module, loader.id) if isinstance(loader, ast.Name) else getattr(yaml, loader.attr, None)
    return isinstance(value, type) and issubclass(value, (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("umask", [0o000, 0o077])
@pytest.mark.parametrize("mode", ["0644", "0600", "0640"])
def test_the_cdi_spec_gets_the_requested_mode_whatever_the_umask(host_factory, tmp_path, umask, mode):
    simulator = host_factory("a30-x4", mig=False)
    spec = tmp_path / "cdi" / "nvidia.json"
    previous = os.umask(umask)
    try:
        result = run_module("cdi_spec", {"simulator": simulator, "path": str(spec), "mode": mode})
    finally:
        os.umask(previous)
    assert result.get("failed") is not True, result.get("msg", result)
    assert stat.S_IMODE(spec.stat().st_mode) == int(mode, 8)
    assert stat.S_IMODE(spec.parent.stat().st_mode) == 0o755 & ~umask


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_the_simulator_state_file_keeps_its_mode_whatever_the_umask(tmp_path, umask):
    state = tmp_path / "host.json"
    previous = os.umask(umask)
    try:
        created = run_module("simulated_host", {"path": str(state), "preset": "gh200"})
        changed = run_module("simulated_host", {"path": str(state), "reset_supported": False})
    finally:
        os.umask(previous)
    assert created["changed"] and changed["changed"]
    assert stat.S_IMODE(state.stat().st_mode) == 0o644


def test_a_failed_spec_write_leaves_the_old_file_and_no_temp_file(host_factory, tmp_path, monkeypatch):
    simulator = host_factory("a30-x4", mig=False)
    spec = tmp_path / "nvidia.yaml"
    spec.write_text("---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: []\n")
    before = tree_snapshot(tmp_path)

    def refuse_rename(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", refuse_rename)
    result = run_module("cdi_spec", {"simulator": simulator, "path": str(spec)})
    monkeypatch.undo()
    assert result.get("failed") and "traceback" not in result
    assert str(spec) in result["msg"] and "No space left on device" in result["msg"]
    assert tree_snapshot(tmp_path) == before


def test_a_failed_state_write_leaves_the_simulated_host_as_it_was(tmp_path, monkeypatch):
    state = tmp_path / "host.json"
    assert run_module("simulated_host", {"path": str(state), "preset": "gh200"})["changed"]
    before = tree_snapshot(tmp_path)

    def refuse_rename(source, target):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "rename", refuse_rename)
    result = run_module("simulated_host", {"path": str(state), "reset_supported": False})
    monkeypatch.undo()
    assert result.get("failed")
    assert tree_snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- user paths


def test_cdi_spec_absent_never_removes_a_file_that_is_not_a_cdi_spec(tmp_path):
    precious = tmp_path / "passwd"
    precious.write_text("root:x:0:0:root:/root:/bin/bash\n")
    result = run_module("cdi_spec", {"path": str(precious), "state": "absent"})
    assert precious.exists(), "cdi_spec state=absent deleted a file that is not a CDI spec"
    assert result.get("failed") and result.get("option") == "path", result


def test_cdi_spec_absent_never_removes_a_yaml_file_that_is_not_a_cdi_spec(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("version: v1\nmig-configs:\n  all-disabled:\n    - devices: all\n      mig-enabled: false\n")
    result = run_module("cdi_spec", {"path": str(config), "state": "absent"})
    assert config.exists(), "cdi_spec state=absent deleted a YAML file that is not a CDI spec"
    assert result.get("failed"), result


def test_cdi_spec_rejects_a_relative_path_before_writing(host_factory, tmp_path, monkeypatch):
    simulator = host_factory("a30-x4", mig=False)
    monkeypatch.chdir(tmp_path)
    result = run_module("cdi_spec", {"simulator": simulator, "path": "cdi/nvidia.yaml"})
    assert not (tmp_path / "cdi").exists()
    assert result.get("failed") and result.get("option") == "path", result


def test_cdi_spec_normalises_a_path_with_dot_dot(host_factory, tmp_path):
    simulator = host_factory("a30-x4", mig=False)
    (tmp_path / "etc").mkdir()
    given = str(tmp_path / "etc" / "missing" / ".." / "nvidia.yaml")
    result = run_module("cdi_spec", {"simulator": simulator, "path": given})
    assert result.get("failed") is not True, result.get("msg", result)
    assert result["path"] == str(tmp_path / "etc" / "nvidia.yaml")
    assert (tmp_path / "etc" / "nvidia.yaml").is_file()


@pytest.mark.parametrize("mode", ["0666", "0646", "4755", "2755", "1777"])
def test_cdi_spec_refuses_modes_that_let_others_rewrite_or_escalate(host_factory, tmp_path, mode):
    """A CDI spec names hooks the container runtime runs as root: a spec others can write,
    or one with set-id bits, hands them root."""
    simulator = host_factory("a30-x4", mig=False)
    spec = tmp_path / "nvidia.yaml"
    result = run_module("cdi_spec", {"simulator": simulator, "path": str(spec), "mode": mode})
    assert not spec.exists()
    assert result.get("failed") and result.get("option") == "mode", result


def test_simulated_host_fails_cleanly_on_a_file_that_is_not_a_simulated_host(tmp_path):
    precious = tmp_path / "inventory.json"
    precious.write_text('{"hosts": ["a", "b"]}\n')
    before = tree_snapshot(tmp_path)
    for args in ({"path": str(precious), "state": "absent"}, {"path": str(precious), "preset": "gh200"}):
        result = run_module("simulated_host", args)
        assert "traceback" not in result, result["traceback"]
        assert result.get("failed") and result.get("option") == "path", result
    assert tree_snapshot(tmp_path) == before


def test_a_simulator_option_naming_another_file_fails_naming_the_option(tmp_path):
    other = tmp_path / "inventory.json"
    other.write_text('{"hosts": []}\n')
    result = run_module("gpu_info", {"simulator": str(other)})
    assert result.get("failed") and result.get("option") == "simulator", result
    assert "not a gpuops.mig simulated host" in result["msg"]


@pytest.mark.parametrize("target", ["missing.yaml", "a-directory", "relative.yaml"])
def test_a_mig_parted_file_that_cannot_be_read_fails_naming_the_option(host_factory, tmp_path, monkeypatch, target):
    simulator = host_factory("a30-x4", mig=False)
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    file = target if target == "relative.yaml" else str(tmp_path / target)
    before = tree_snapshot(tmp_path)
    result = run_module("mig_instance", {"simulator": simulator, "mig_parted_config": {"file": file}})
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") and (result.get("option") or "").startswith("mig_parted_config"), result
    assert tree_snapshot(tmp_path) == before
