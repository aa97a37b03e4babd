"""The three hourly scores, each between 0 and 1, and what counts as an error.

The scores are computed inside the aggregation statement, so they are written
here as SQL over the per-hour counts that statement produces:

- availability: the share of checks that passed (``successful / total``).
- performance: the share of timed checks that answered within the slow
  threshold, the same line the health-check engine draws: twice the active
  baseline's mean response time, or 5 s without a baseline. NULL when no
  check of the hour has a response time (nothing was measured).
- reliability: the share of checks the service did not break on
  (``1 - errors / total``), so it is ``1 - error_rate / 100``. An error is a
  failed check that got no HTTP answer at all (timeout, refused, reset, DNS,
  TLS and the other recorded error kinds) or a 5xx; a 4xx or an unexpected
  body fails the check but is an answer, which is why availability and
  reliability differ.

Every score is rounded to the 4 decimals of its column.
"""

from __future__ import annotations

from integrations_app.checks import SLOW_WITHOUT_BASELINE_MS

# The health-check engine's slow line (integrations_app.checks.slow_threshold_ms):
# twice a positive baseline mean, else this.
DEFAULT_SLOW_MS = SLOW_WITHOUT_BASELINE_MS
SLOW_FACTOR = 2

# Per-check predicates, over columns of integration_health_checks (alias h)
# and the response time kept after the sanity filter (rt).
IS_ERROR = (
    "(NOT h.is_successful AND (h.error_kind IS NOT NULL"
    " OR h.status_code BETWEEN 500 AND 599))"
)
IS_TIMEOUT = "(h.error_kind = 'timeout')"

# Per-hour scores, over the counts of one group: total_checks,
# successful_checks, error_count, timed (checks with a response time) and
# fast (timed checks within the slow threshold).
AVAILABILITY = "round(successful_checks::numeric / total_checks, 4)"
PERFORMANCE = "round(fast::numeric / nullif(timed, 0), 4)"
RELIABILITY = "round(1 - error_count::numeric / total_checks, 4)"


def slow_threshold_sql(baseline_mean: str) -> str:
    """Return the SQL for the slow threshold given a baseline mean expression."""
    return (
        f"CASE WHEN {baseline_mean} > 0 THEN {SLOW_FACTOR} * {baseline_mean}"
        f" ELSE {DEFAULT_SLOW_MS} END"
    )
