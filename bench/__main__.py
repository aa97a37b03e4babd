"""Run every benchmark and print its figures: `python -m bench [name ...]`."""

from __future__ import annotations

import importlib
import os
import sys

# Each module has a run() that prints its figures; names are module names.
BENCHMARKS = [
    "aggregation",
    "alerting",
    "api",
    "checks",
    "live",
    "access",
]


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monitor_project.settings")
    import django

    from monitor_project import access
    from monitor_project.roles import SYSTEM

    # Benchmarks build their data as the system; requests bring their own role.
    access.set_process_default(SYSTEM)
    django.setup()
    chosen = sys.argv[1:] or BENCHMARKS
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark: {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in chosen:
        importlib.import_module(f"bench.{name}").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
