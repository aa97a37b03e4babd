"""The role and user that PostgreSQL's row-level security policies read.

Every connection switches to the application role, which can bypass no policy,
and starts with its process's default: `system` for Celery and management
commands, nobody for the web process. A request gives its own transaction the
role and user of whoever asks, and puts the previous ones back when it ends.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from celery import signals as celery_signals
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    connections,
    transaction,
)
from django.db.backends.base.base import NO_DB_ALIAS, BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models import Manager, Model, QuerySet
from django.db.transaction import TransactionManagementError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from monitor_project.roles import SYSTEM, role_of

logger = logging.getLogger(__name__)

# What the policies read: (app.role, app.user_id); an empty string is nobody.
Setting = tuple[str, str]
NOBODY: Setting = ("", "")
AS_SYSTEM: Setting = (SYSTEM, "")

_SET = "SELECT set_config('app.role', %s, %s), set_config('app.user_id', %s, %s)"
# The CTE is materialised so the old values are read before the new are set.
_SWAP = """
WITH before AS MATERIALIZED (
    SELECT coalesce(current_setting('app.role', true), '') AS role,
           coalesce(current_setting('app.user_id', true), '') AS user_id
)
SELECT before.role, before.user_id,
       set_config('app.role', %s, %s), set_config('app.user_id', %s, %s)
FROM before
"""
_START_AS_APP = """
SELECT set_config('app.role', %s, false), set_config('app.user_id', %s, false),
       (SELECT set_config('role', rolname::text, false)
        FROM pg_roles WHERE rolname = %s)
"""
_START_AS_OWNER = """
SELECT set_config('role', 'none', false),
       set_config('app.role', %s, false), set_config('app.user_id', %s, false)
"""

# Commands that serve requests: each request brings its own role.
_SERVING_COMMANDS = frozenset({"runserver"})


class _Process:
    """What every new connection of this process starts with."""

    def __init__(self) -> None:
        self.default: Setting = NOBODY
        # Schema changes need the owner of the tables, not the application role.
        self.owner = False
        self.warned_missing_role = False


_process = _Process()
_local = threading.local()


def _acting() -> list[str]:
    stack: list[str] | None = getattr(_local, "acting", None)
    if stack is None:
        stack = _local.acting = []
    return stack


def setting_for(user: Any) -> Setting:
    """Return what the policies read for a user: nobody unless they hold a role."""
    role = role_of(user)
    if role is None:
        return NOBODY
    return (role, str(user.pk))


def set_process_default(role: str | None) -> None:
    """Set the role this process's connections start with; call before any opens."""
    _process.default = (role or "", "")


def command_role(argv: Sequence[str]) -> str | None:
    """Return the default role of a management command."""
    command = argv[1] if len(argv) > 1 else ""
    return None if command in _SERVING_COMMANDS else SYSTEM


def _start_session(connection: BaseDatabaseWrapper) -> None:
    role, user_id = _process.default
    with connection.cursor() as cursor:
        if _process.owner:
            cursor.execute(_START_AS_OWNER, [role, user_id])
            return
        cursor.execute(_START_AS_APP, [role, user_id, settings.DATABASE_APP_ROLE])
        switched = cursor.fetchone()[2]
    if switched is None and not _process.warned_missing_role:
        # Only before the first migration: the role and the policies come together.
        _process.warned_missing_role = True
        logger.warning(
            "database role %s does not exist yet; run migrate",
            settings.DATABASE_APP_ROLE,
        )


@receiver(connection_created)
def _connection_created(
    sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any
) -> None:
    if connection.alias == NO_DB_ALIAS or connection.vendor != "postgresql":
        return
    _start_session(connection)


def _restart(using: str) -> None:
    connection = connections[using]
    if connection.connection is None:
        return
    try:
        _start_session(connection)
    except DatabaseError:
        connection.close()


@contextlib.contextmanager
def as_owner(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run as the connecting user with system rights, for migrations and flushes."""
    saved = (_process.default, _process.owner)
    _process.default, _process.owner = AS_SYSTEM, True
    _restart(using)
    try:
        yield
    finally:
        _process.default, _process.owner = saved
        _restart(using)


def _swap(connection: BaseDatabaseWrapper, setting: Setting, local: bool) -> Setting:
    role, user_id = setting
    with connection.cursor() as cursor:
        cursor.execute(_SWAP, [role, local, user_id, local])
        before = cursor.fetchone()
    return (before[0], before[1])


def _put_back(connection: BaseDatabaseWrapper, setting: Setting, local: bool) -> None:
    role, user_id = setting
    try:
        with connection.cursor() as cursor:
            cursor.execute(_SET, [role, local, user_id, local])
    except (DatabaseError, TransactionManagementError):
        if local:
            # The transaction failed and will roll back, taking the setting with it.
            return
        # A session that may still hold someone's role must not be reused.
        connection.close()


@contextlib.contextmanager
def acting_as(
    role: str | None, user_id: object = None, *, using: str = DEFAULT_DB_ALIAS
) -> Iterator[None]:
    """Run the block with another role and user, then put the previous ones back."""
    connection = connections[using]
    local = connection.in_atomic_block
    setting = (role or "", "" if user_id is None else str(user_id))
    before = _swap(connection, setting, local)
    _acting().append(setting[0])
    try:
        yield
    finally:
        _acting().pop()
        _put_back(connection, before, local)


def as_system(using: str = DEFAULT_DB_ALIAS) -> contextlib.AbstractContextManager[None]:
    """Run the block with full access, for work the system does on a user's behalf."""
    return acting_as(SYSTEM, using=using)


def acting_as_user(
    user: Any, using: str = DEFAULT_DB_ALIAS
) -> contextlib.AbstractContextManager[None]:
    """Run the block with the role and id of a user, outside any request."""
    role, user_id = setting_for(user)
    return acting_as(role, user_id or None, using=using)


M = TypeVar("M", bound=Model)


def lock_for_update(queryset: QuerySet[M] | Manager[M], **lookup: Any) -> M:
    """Lock a row to change it, or read it unlocked when the role may not change it."""
    # Row security hides from a lock the rows a role may read but not change.
    # The caller still reads the row, so it can say why it refuses, and any
    # change it went on to make would match no row.
    try:
        return queryset.select_for_update().get(**lookup)
    except ObjectDoesNotExist:
        return queryset.get(**lookup)


class _RequestScope:
    """One request's transaction, and the role and user it runs with."""

    def __init__(self, using: str) -> None:
        self.connection = connections[using]
        self.atomic = transaction.atomic(using=using)
        self.current: Setting | None = None
        self.before: Setting | None = None
        self.carried: Setting | None = None
        self.callbacks = False

    def __enter__(self) -> _RequestScope:
        self.nested = self.connection.in_atomic_block
        self.atomic.__enter__()
        self.first_hook = len(self.connection.run_on_commit)
        transaction.on_commit(self._carry, using=self.connection.alias)
        _acting().append("request")
        return self

    def adopt(self, user: Any) -> None:
        setting = setting_for(user)
        if setting == self.current:
            return
        if self.nested and self.before is None:
            self.before = _swap(self.connection, setting, local=True)
        else:
            _put(self.connection, setting)
        self.current = setting

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _acting().pop()
        try:
            if self.before is not None:
                _put_back(self.connection, self.before, local=True)
            hooks = len(self.connection.run_on_commit)
            self.callbacks = hooks > self.first_hook + 1
            if self.callbacks:
                transaction.on_commit(
                    self._uncarry, using=self.connection.alias, robust=True
                )
        finally:
            try:
                self.atomic.__exit__(exc_type, exc, tb)
            finally:
                # A callback that raised skipped the hook that ends the carry.
                self._uncarry()

    def _carry(self) -> None:
        # After the commit the local setting is gone, but what the request
        # left to run on commit still acts for its user.
        if self.callbacks and self.current is not None:
            self.carried = _swap(self.connection, self.current, local=False)

    def _uncarry(self) -> None:
        if self.carried is None:
            return
        carried, self.carried = self.carried, None
        _put_back(self.connection, carried, local=False)


def _put(connection: BaseDatabaseWrapper, setting: Setting) -> None:
    role, user_id = setting
    with connection.cursor() as cursor:
        cursor.execute(_SET, [role, True, user_id, True])


def _carries_credentials(request: HttpRequest) -> bool:
    return (
        "HTTP_AUTHORIZATION" in request.META
        or settings.SESSION_COOKIE_NAME in request.COOKIES
    )


class RequestAccessMiddleware:
    """Run each request in a transaction that carries the role of whoever asks."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _carries_credentials(request):
            # Nobody to vouch for: the connection's own default, nobody in the
            # web process, holds, and probes such as /healthz need no database.
            return self.get_response(request)
        with _RequestScope(DEFAULT_DB_ALIAS) as scope:
            request._access_scope = scope  # type: ignore[attr-defined]
            scope.adopt(getattr(request, "user", None))
            response = self.get_response(request)
            if response.status_code >= 500:
                # Half of a failed request's writes must not stay.
                transaction.set_rollback(True)
        return response


def adopt(request: Any, user: Any) -> None:
    """Give the current request's transaction the role of a user just authenticated."""
    django_request = getattr(request, "_request", request)
    scope: _RequestScope | None = getattr(django_request, "_access_scope", None)
    if scope is None:
        raise ImproperlyConfigured(
            "monitor_project.access.RequestAccessMiddleware must be in MIDDLEWARE"
        )
    scope.adopt(user)


@celery_signals.worker_init.connect
@celery_signals.beat_init.connect
def _background_process_started(**kwargs: Any) -> None:
    set_process_default(SYSTEM)
    connections.close_all()


@celery_signals.worker_process_init.connect
def _worker_child_started(**kwargs: Any) -> None:
    # The parent's connections are the fixup's to discard; touching them here
    # would write on sockets the parent still uses.
    set_process_default(SYSTEM)


_tasks: dict[str, contextlib.ExitStack] = {}


@celery_signals.task_prerun.connect
def _task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if _process.default == AS_SYSTEM and not _acting():
        return
    # A task run in place (eagerly, or within a request) still acts as the system.
    stack = contextlib.ExitStack()
    stack.enter_context(as_system())
    _tasks[str(task_id)] = stack


@celery_signals.task_postrun.connect
def _task_finished(task_id: str | None = None, **kwargs: Any) -> None:
    stack = _tasks.pop(str(task_id), None)
    if stack is not None:
        stack.close()
