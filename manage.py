#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monitor_project.settings")
    from django.core.management import execute_from_command_line

    from monitor_project import access

    # Commands act as the system; a served request brings its own role.
    access.set_process_default(access.command_role(sys.argv))
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
