"""Start `interp train` processes cheaply, for tests/integration/test_crash_safety.py.

A fresh interpreter spends 5-15 s importing TransformerLens on this machine; this launcher imports it once and
then forks one child per request, which runs the real entry point (`interp.cli.app.main`, what the `interp` script
calls) with the requested arguments. Each child is an ordinary process that the test can SIGKILL.

Protocol, one JSON line per request on stdin: {"argv": [...], "log": "path"}. The launcher answers
"pid N" once the child is running and "exit STATUS" when it has ended (a negative status is the signal).
No torch computation happens here before forking, so the children start with untouched thread pools.
"""

import json
import os
import sys

import interp.cli.app
import interp.train.loop  # noqa: F401  (the heavy import, done once)


def _child(argv: list[str], log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.argv = ["interp", *argv]
    code = 0
    try:
        interp.cli.app.main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request["argv"], request["log"])
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"exit {code}", flush=True)


if __name__ == "__main__":
    main()
