"""Dependency rules: no cycles, whichever way a dependency is saved."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection

# Everything `start` depends on, directly or through others.
_UPSTREAM = """
WITH RECURSIVE up(id) AS (
    SELECT d.depends_on_integration_id FROM integration_dependencies d
    WHERE d.integration_id = %(start)s AND d.id IS DISTINCT FROM %(skip)s
    UNION
    SELECT d.depends_on_integration_id FROM integration_dependencies d
    JOIN up ON d.integration_id = up.id
    WHERE d.id IS DISTINCT FROM %(skip)s
)
SELECT 1 FROM up WHERE id = %(target)s LIMIT 1
"""


def creates_cycle(integration_id: Any, depends_on_id: Any, exclude: Any = None) -> bool:
    """Tell whether `integration` depending on `depends_on` would close a loop."""
    if integration_id is None or depends_on_id is None:
        return False
    if str(integration_id) == str(depends_on_id):
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSTREAM,
            {"start": depends_on_id, "target": integration_id, "skip": exclude},
        )
        return cursor.fetchone() is not None


def check_no_cycle(
    integration_id: Any, depends_on_id: Any, exclude: Any = None
) -> None:
    """Raise a ValidationError naming depends_on when the dependency makes a loop."""
    if str(integration_id) == str(depends_on_id):
        raise ValidationError({"depends_on": "An integration cannot depend on itself."})
    if creates_cycle(integration_id, depends_on_id, exclude):
        raise ValidationError(
            {
                "depends_on": "This dependency would make a cycle: the chosen "
                "integration already depends on this one."
            }
        )


def refuse_cycles(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """Guard every save of a Dependency, whatever path it comes through."""
    if raw:
        return
    check_no_cycle(instance.integration_id, instance.depends_on_id, instance.pk)
