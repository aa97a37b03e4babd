"""Run every benchmark and print its figures."""

from __future__ import annotations

import sys

from bench import checks

BENCHMARKS = {"checks": checks.main}


def main() -> int:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    failed = 0
    for name in chosen:
        print(f"== {name}")
        failed += BENCHMARKS[name]() != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
