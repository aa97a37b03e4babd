"""Which integrations are due for a check, claimed so no check is dispatched twice."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from integrations_app import checks
from integrations_app.models import Integration

logger = logging.getLogger(__name__)

CLAIM_CHUNK = 1000
MAX_CLAIMS_PER_RUN = 50000

# One statement claims and moves forward: rows another dispatcher holds are
# skipped, and a row it already moved no longer matches when re-checked. Each
# integration keeps a fixed phase within its interval, taken from its id, so a
# thousand integrations on the same interval are spread over it and stay so.
_CLAIM_SQL = """
WITH due AS (
    SELECT id,
           GREATEST(COALESCE(next_check_at, %(now)s), %(now)s) AS run_at,
           GREATEST(health_check_interval_minutes, 1) * 60 AS period,
           ('x' || substr(md5(id::text), 1, 8))::bit(32)::bigint
               %% (GREATEST(health_check_interval_minutes, 1) * 60) AS phase
    FROM integrations
    WHERE is_active AND monitoring_enabled
      AND (
        next_check_at IS NULL
        OR next_check_at <= %(horizon)s
        -- Further off than a claim ever sets it: the interval was shortened.
        OR next_check_at > %(now)s
            + make_interval(secs => GREATEST(health_check_interval_minutes, 1) * 90)
            + make_interval(secs => %(lookahead)s)
      )
    ORDER BY next_check_at ASC NULLS FIRST
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE integrations AS i
SET next_check_at = to_timestamp(
    -- The first slot at least half an interval after this run: a late claim
    -- keeps its next slot, a new integration waits for its phase.
    ceil((extract(epoch FROM due.run_at) + due.period / 2.0 - due.phase) / due.period)
    * due.period + due.phase
)
FROM due
WHERE i.id = due.id
RETURNING i.id, due.run_at, due.period
"""


def phase_seconds(integration_id: Any, period_seconds: int) -> int:
    """Answer an integration's fixed offset within its interval, as SQL computes it."""
    digest = hashlib.md5(str(integration_id).encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:8], 16) % period_seconds


def slot_after(moment: datetime, integration_id: Any, period_seconds: int) -> datetime:
    """Answer the integration's first due time at or after a moment."""
    phase = phase_seconds(integration_id, period_seconds)
    epoch = moment.timestamp()
    slot = math.ceil((epoch - phase) / period_seconds) * period_seconds + phase
    return datetime.fromtimestamp(slot, tz=moment.tzinfo)


@dataclass(frozen=True)
class Claim:
    integration_id: str
    run_at: datetime
    period_seconds: int


def claim_due(
    now: datetime | None = None,
    *,
    lookahead_seconds: int | None = None,
    limit: int = CLAIM_CHUNK,
) -> list[Claim]:
    """Claim integrations due before now plus the lookahead and move them on."""
    now = now or timezone.now()
    lookahead = (
        settings.CHECK_DISPATCH_LOOKAHEAD_SECONDS
        if lookahead_seconds is None
        else lookahead_seconds
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {
                "now": now,
                "horizon": now + timedelta(seconds=lookahead),
                "lookahead": lookahead,
                "limit": limit,
            },
        )
        rows = cursor.fetchall()
    return [Claim(str(pk), run_at, int(period)) for pk, run_at, period in rows]


def batches(claims: Sequence[Claim], size: int) -> list[tuple[datetime, list[Claim]]]:
    """Group claims that start in the same second into batches of at most `size`."""
    by_second: dict[datetime, list[Claim]] = defaultdict(list)
    for claim in claims:
        by_second[claim.run_at.replace(microsecond=0)].append(claim)
    grouped = []
    for second in sorted(by_second):
        members = sorted(by_second[second], key=lambda c: c.run_at)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            grouped.append((chunk[0].run_at, chunk))
    return grouped


Send = Callable[[list[str], datetime, datetime], None]


def dispatch(send: Send, now: datetime | None = None) -> tuple[int, int]:
    """Claim every due integration and hand them out in batches; answer the counts."""
    started = time.monotonic()
    now = now or timezone.now()
    size = max(int(settings.CHECK_BATCH_SIZE), 1)
    claimed = sent = 0
    while claimed < MAX_CLAIMS_PER_RUN:
        claims = claim_due(now, limit=CLAIM_CHUNK)
        claimed += len(claims)
        for run_at, chunk in batches(claims, size):
            # A batch not started within its interval is left to the next turn.
            expires = run_at + timedelta(seconds=min(c.period_seconds for c in chunk))
            send([c.integration_id for c in chunk], run_at, expires)
            sent += 1
        if len(claims) < CLAIM_CHUNK:
            break
    logger.info(
        "dispatched %d due checks in %d batches in %.0f ms",
        claimed,
        sent,
        (time.monotonic() - started) * 1000,
    )
    return claimed, sent


def run_batch(ids: Sequence[str], due: datetime) -> int:
    """Check the integrations of one batch still due; answer how many were checked."""
    started = time.monotonic()
    integrations = list(
        Integration.objects.filter(
            pk__in=list(ids), is_active=True, monitoring_enabled=True
        ).exclude(
            # Already checked since it fell due: this batch ran before.
            Q(last_health_check__gte=due)
        )
    )
    rows = checks.run_checks(integrations)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.health_status] += 1
    logger.info(
        "checked %d of %d integrations due at %s in %.0f ms "
        "(%d healthy, %d warning, %d critical)",
        len(rows),
        len(ids),
        due.isoformat(),
        (time.monotonic() - started) * 1000,
        counts["healthy"],
        counts["warning"],
        counts["critical"],
    )
    return len(rows)
