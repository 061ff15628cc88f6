"""Run a command and write its wall time, CPU time, peak RSS and exit status to a file.

    python -I -S launch.py RESULT_FILE COMMAND [ARG ...]

Why a launcher: on Linux a child's `ru_maxrss` keeps the high-water mark of the memory it
had *before* exec, which for a child of the harness (forked or vforked) is the harness's own
peak, tens of MiB. This script imports nothing but `os`, `sys` and `time`, so what it lends
its child before exec is the smallest a Python can be (about 7 MiB, the floor of any reading).
"""

import os
import sys
import time


def main() -> int:
    result, command = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w") as out:
        out.write(f"{wall} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss} {code}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
