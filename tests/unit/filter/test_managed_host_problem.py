"""What the mig role says when a managed host cannot run the collection's modules (results
as Ansible reports them for a missing interpreter and a refused sudo)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.gpuops.mig.plugins.filter.managed_host_problem import managed_host_problem

NO_PYTHON = {"failed": True, "rc": 127, "msg": "The module failed to execute correctly, you probably need to set the interpreter.",
             "module_stdout": "", "module_stderr": "Warning: Permanently added '[127.0.0.1]:2331' (ED25519) to the list of known "
             "hosts.\r\n/bin/sh: 1: /usr/bin/python3: not found\n"}
NO_SUDO = {"failed": True, "msg": "Task failed: Premature end of stream waiting for become success.\n>>> Standard Error\nsudo: a password is required"}


def test_a_missing_interpreter_names_the_host_and_the_fix():
    message = managed_host_problem(NO_PYTHON, "node-1")
    assert message.startswith("node-1 cannot run Ansible modules: no Python interpreter (/bin/sh: 1: /usr/bin/python3: not found)")
    assert "install python3" in message


def test_a_refused_become_names_the_host_and_the_fix():
    message = managed_host_problem(NO_SUDO, "node-2")
    assert message.startswith("node-2 refused to run modules as root through become (")
    assert "sudo: a password is required" in message and "ansible_become_password" in message


def test_other_failures_keep_the_module_message():
    assert managed_host_problem({"msg": "disk full"}, "node-3") == "node-3 cannot run gpuops.mig's modules: disk full"


def test_a_non_result_is_refused():
    with pytest.raises(AnsibleFilterError):
        managed_host_problem("oops", "node-4")
