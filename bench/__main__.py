"""Run every benchmark and print its figures."""

from __future__ import annotations

import sys


def main() -> int:
    from bench import alerting

    alerting.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
