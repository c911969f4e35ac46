"""The main script of ``bench_startup.py``'s worker, as in a real program: a spawned child re-imports
it (as ``__mp_main__``), so it imports nothing at the top; the worker's job runs under ``__main__``."""

import sys

if __name__ == "__main__":
    import bench_startup

    bench_startup.worker(int(sys.argv[1]))
