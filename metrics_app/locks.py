"""PostgreSQL advisory locks that keep a periodic job to one run at a time."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """Return the signed 64-bit advisory lock key of a job name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def advisory_lock(name: str) -> Iterator[bool]:
    """Try the job's lock without waiting; yield whether this session holds it.

    A session lock rather than a transaction one, because a job such as
    retention commits many transactions; the lock goes with the session if
    the worker dies.
    """
    key = lock_key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        (acquired,) = cursor.fetchone()
    try:
        yield bool(acquired)
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:
                # Closing the session is the sure way to drop its locks; a
                # lock left on a pooled connection would skip every later run.
                logger.warning("could not release lock %s; closing the session", name)
                connection.close()
