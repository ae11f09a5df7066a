"""Module runs in forked children that die at a chosen journal write: as abrupt as
SIGKILL (``os._exit``, no cleanup), and cheap enough for dozens of double interruptions.

``ForkServer`` starts this file once as a process that imports the collection and then
forks a child per run, so a run costs milliseconds of start-up instead of a Python and
Ansible import. A run dies right *before* its Nth journal write (the hardware is ahead
of the journal: the step after the last recorded one happened) or right *after* it
(journal and hardware agree).
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KILLED = 137


def die_at_journal_write(number, before):
    """Make this process exit at its ``number``-th journal write (1 = the first)."""
    from ansible_collections.gpuops.mig.plugins.module_utils import _journal

    write = _journal._write_json_atomically
    count = [0]

    def write_or_die(path, document, mode=0o600):
        count[0] += 1
        if count[0] == number and before:
            os._exit(KILLED)
        write(path, document, mode)
        if count[0] == number:
            os._exit(KILLED)

    _journal._write_json_atomically = write_or_die


def _serve():
    """Read one request per line ({"module", "args", "die_at", "result_file", "wait"}), run
    it in a forked child, answer its exit code (``wait``) or its pid at once."""
    sys.path[:0] = [os.path.join(HERE, "..", "..", "build", "dev"), HERE]
    from reliability_support import run_module

    for name in ("mig_instance", "mig_mode", "gpu_info", "cdi_spec"):
        __import__("ansible_collections.gpuops.mig.plugins.modules." + name)
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    for line in sys.stdin:
        request = json.loads(line)
        _reap()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                if request["die_at"]:
                    die_at_journal_write(*request["die_at"])
                args = request["args"]
                modes = dict(check_mode=args.pop("_ansible_check_mode", False), diff=args.pop("_ansible_diff", False))
                result = run_module(request["module"], args, **modes)
                with open(request["result_file"] + ".tmp", "w") as handle:
                    json.dump(result, handle)
                os.rename(request["result_file"] + ".tmp", request["result_file"])
                code = 0
            finally:
                os._exit(code)
        if not request["wait"]:
            answers.write("%d\n" % pid)
        else:
            _pid, status = os.waitpid(pid, 0)
            answers.write("%d\n" % (os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)))
        answers.flush()


def _reap():
    """Collect children started without waiting that have ended."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


class ForkServer(object):
    """The serving process; ``run`` one module run in a fresh child of it."""

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True
        )

    def run(self, module, args, result_file, die_at=None):
        """Run ``module`` with ``args``; ``die_at`` (N, before) kills it at its Nth journal
        write. Returns (exit code, result dict or None when it died)."""
        code = self._request(module, args, result_file, die_at, True)
        if not os.path.exists(result_file):
            return code, None
        with open(result_file) as handle:
            return code, json.load(handle)

    def start(self, module, args, result_file):
        """Start ``module`` with ``args`` without waiting; ``result`` collects it."""
        return self._request(module, args, result_file, None, False)

    @staticmethod
    def result(result_file, timeout=300):
        """The result of a run begun with ``start``, once it is there."""
        deadline = time.time() + timeout
        while not os.path.exists(result_file):
            assert time.time() < deadline, "no result in %s after %s s" % (result_file, timeout)
            time.sleep(0.02)
        with open(result_file) as handle:
            return json.load(handle)

    def _request(self, module, args, result_file, die_at, wait):
        if os.path.exists(result_file):
            os.unlink(result_file)
        request = {"module": module, "args": args, "die_at": die_at, "result_file": result_file, "wait": wait}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


if __name__ == "__main__":
    _serve()
