"""``python -m strato.multiprocessing program.py [args]``: runs an unmodified program written
for the standard library's ``multiprocessing`` on strato (``import multiprocessing`` gives
``strato.multiprocessing``, in the program and in its workers)."""

import runpy
import sys

from ._install import install


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print("usage: python -m strato.multiprocessing PROGRAM.py [ARGS...]", file=sys.stderr)
        return 2
    install()
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
