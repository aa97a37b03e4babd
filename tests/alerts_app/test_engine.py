from __future__ import annotations

import datetime
import threading
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from alerts_app import engine
from alerts_app.models import AlertRule, ConditionState, Incident
from integrations_app.models import AuditEvent, Integration
from metrics_app.models import Metric
from tests.alerts_app.factories import AlertRuleFactory, IncidentFactory
from tests.integrations_app.factories import HealthCheckFactory, IntegrationFactory

pytestmark = pytest.mark.django_db
MINUTE = datetime.timedelta(minutes=1)


def _rule(
    integration: Integration | None, metric: str, op: str, threshold: Any, **kw: Any
) -> AlertRule:
    return AlertRuleFactory(
        integration=integration,
        condition_metric=metric,
        condition_operator=op,
        condition_threshold=Decimal(str(threshold)),
        **kw,
    )


def _opened(rule: AlertRule) -> list[Incident]:
    return list(Incident.objects.filter(alert_rule=rule))


@pytest.mark.parametrize(
    ("op", "threshold", "fires"),
    [
        (">", 3, True),
        (">", 4, False),
        ("<", 5, True),
        ("<", 4, False),
        (">=", 4, True),
        (">=", 5, False),
        ("<=", 4, True),
        ("<=", 3, False),
        ("==", 4, True),
        ("==", 3, False),
        ("!=", 3, True),
        ("!=", 4, False),
    ],
)
def test_each_operator_compares_the_value_with_the_threshold(
    now: datetime.datetime, op: str, threshold: int, fires: bool
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(integration, "consecutive_failures", op, threshold)

    engine.evaluate(now=now)

    assert len(_opened(rule)) == (1 if fires else 0)


def _with_status(status: str) -> Integration:
    return IntegrationFactory(current_health_status=status)


@pytest.mark.parametrize(
    ("setup", "metric", "op", "threshold"),
    [
        (
            lambda: IntegrationFactory(consecutive_failures=5),
            "consecutive_failures",
            ">=",
            5,
        ),
        (
            lambda: IntegrationFactory(last_response_time_ms=2500),
            "response_time",
            ">",
            2000,
        ),
        (lambda: _with_status("critical"), "health_status", "==", 2),
        (lambda: _with_status("warning"), "health_status", "==", 1),
        (lambda: _with_status("healthy"), "health_status", "==", 0),
    ],
)
def test_each_integration_column_metric_is_read(
    now: datetime.datetime, setup: Any, metric: str, op: str, threshold: int
) -> None:
    rule = _rule(setup(), metric, op, threshold)

    engine.evaluate(now=now)

    assert len(_opened(rule)) == 1


def test_an_unknown_status_has_no_value_and_fires_nothing(
    now: datetime.datetime,
) -> None:
    rule = _rule(_with_status("unknown"), "health_status", ">=", 0)

    engine.evaluate(now=now)

    assert _opened(rule) == []


def _hourly(
    integration: Integration, hour: datetime.datetime, total: int, ok: int, errors: int
) -> None:
    Metric.objects.create(
        integration=integration,
        metric_date=hour.date(),
        metric_hour=hour.hour,
        total_checks=total,
        successful_checks=ok,
        failed_checks=total - ok,
        error_count=errors,
    )


@pytest.mark.parametrize(
    ("metric", "op", "threshold"),
    [("uptime_percentage", "<", 95), ("error_rate", ">", 10)],
)
def test_the_latest_hourly_row_feeds_uptime_and_error_rate(
    now: datetime.datetime, metric: str, op: str, threshold: int
) -> None:
    integration = IntegrationFactory()
    _hourly(integration, now - 3 * 60 * MINUTE, 12, 12, 0)
    _hourly(integration, now - 60 * MINUTE, 10, 8, 2)  # 80 % up, 20 % errors
    rule = _rule(integration, metric, op, threshold)

    engine.evaluate(now=now)

    [incident] = _opened(rule)
    expected = Decimal(80) if metric == "uptime_percentage" else Decimal(20)
    assert incident.trigger_value == expected


def test_a_partial_hour_with_enough_checks_wins_over_the_last_hourly_row(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory()
    _hourly(integration, now - 60 * MINUTE, 10, 10, 0)
    for minute, ok in [(1, True), (6, False), (11, False), (16, False)]:
        HealthCheckFactory(
            integration=integration,
            check_timestamp=now.replace(minute=0) + minute * MINUTE,
            is_successful=ok,
            health_status="healthy" if ok else "critical",
        )
    rule = _rule(integration, "uptime_percentage", "<", 50)

    engine.evaluate(now=now + 20 * MINUTE)

    [incident] = _opened(rule)
    assert incident.trigger_value == Decimal(25)


def test_the_partial_hour_error_rate_counts_errors_as_the_rollup_does(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory()
    failures = [("timeout", None), (None, 503), (None, 404), (None, 200)]
    for minute, (kind, code) in enumerate(failures):
        HealthCheckFactory(
            integration=integration,
            check_timestamp=now + minute * MINUTE,
            is_successful=code == 200,
            status_code=code,
            error_kind=kind,
            health_status="critical",
        )
    rule = _rule(integration, "error_rate", ">=", 50)

    engine.evaluate(now=now + 5 * MINUTE)

    # The timeout and the 503 are errors; a 404 is a failed check but no error.
    [incident] = _opened(rule)
    assert incident.trigger_value == Decimal(50)


def test_a_partial_hour_with_too_few_checks_is_ignored(now: datetime.datetime) -> None:
    integration = IntegrationFactory()
    _hourly(integration, now - 60 * MINUTE, 10, 10, 0)
    HealthCheckFactory(
        integration=integration,
        check_timestamp=now + MINUTE,
        is_successful=False,
        health_status="critical",
    )
    rule = _rule(integration, "uptime_percentage", "<", 50)

    engine.evaluate(now=now + 2 * MINUTE)

    assert _opened(rule) == []


def test_a_rule_without_an_integration_watches_every_integration(
    now: datetime.datetime,
) -> None:
    failing = [IntegrationFactory(consecutive_failures=4) for _ in range(3)]
    IntegrationFactory(consecutive_failures=0)
    IntegrationFactory(consecutive_failures=9, monitoring_enabled=False)
    rule = _rule(None, "consecutive_failures", ">=", 3)

    engine.evaluate(now=now)

    opened = {incident.integration_id for incident in _opened(rule)}
    assert opened == {integration.pk for integration in failing}


def test_the_condition_must_hold_for_its_whole_duration(now: datetime.datetime) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(
        integration, "consecutive_failures", ">=", 3, condition_duration_minutes=5
    )

    engine.evaluate(now=now)
    engine.evaluate(now=now + 4 * MINUTE)
    assert _opened(rule) == []

    engine.evaluate(now=now + 5 * MINUTE)
    assert len(_opened(rule)) == 1


def test_a_break_in_the_condition_restarts_the_duration(now: datetime.datetime) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(
        integration, "consecutive_failures", ">=", 3, condition_duration_minutes=5
    )
    engine.evaluate(now=now)

    Integration.objects.filter(pk=integration.pk).update(consecutive_failures=0)
    engine.evaluate(now=now + 3 * MINUTE)
    assert not ConditionState.objects.exists()

    Integration.objects.filter(pk=integration.pk).update(consecutive_failures=4)
    engine.evaluate(now=now + 4 * MINUTE)
    engine.evaluate(now=now + 8 * MINUTE)
    assert _opened(rule) == []

    engine.evaluate(now=now + 9 * MINUTE)
    assert len(_opened(rule)) == 1


def test_an_open_incident_is_not_duplicated_by_later_passes(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(integration, "consecutive_failures", ">=", 3)

    for minutes in range(0, 10, 2):
        engine.evaluate(now=now + minutes * MINUTE)

    assert len(_opened(rule)) == 1
    rule.refresh_from_db()
    assert rule.trigger_count == 1
    assert rule.last_triggered == now


def test_auto_resolve_closes_the_incident_with_a_note_and_duration(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(integration, "consecutive_failures", ">=", 3)
    engine.evaluate(now=now)

    Integration.objects.filter(pk=integration.pk).update(consecutive_failures=0)
    engine.evaluate(now=now + 42 * MINUTE)

    [incident] = _opened(rule)
    assert incident.status == "resolved"
    assert incident.resolved_at == now + 42 * MINUTE
    assert incident.duration_minutes == 42
    assert "no longer met" in (incident.resolution_note or "")
    assert AuditEvent.objects.filter(
        object_id=str(incident.pk), action="resolve"
    ).exists()


def test_without_auto_resolve_the_incident_stays_open(now: datetime.datetime) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(integration, "consecutive_failures", ">=", 3, auto_resolve=False)
    engine.evaluate(now=now)

    Integration.objects.filter(pk=integration.pk).update(consecutive_failures=0)
    engine.evaluate(now=now + 10 * MINUTE)

    assert [i.status for i in _opened(rule)] == ["open"]


@pytest.mark.parametrize(("gap", "reopens"), [(14, False), (15, True)])
def test_cooldown_counts_from_the_end_of_the_last_alert(
    now: datetime.datetime, gap: int, reopens: bool
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(integration, "consecutive_failures", ">=", 3, cooldown_minutes=15)
    engine.evaluate(now=now)
    Integration.objects.filter(pk=integration.pk).update(consecutive_failures=0)
    engine.evaluate(now=now + MINUTE)

    Integration.objects.filter(pk=integration.pk).update(consecutive_failures=4)
    engine.evaluate(now=now + (1 + gap) * MINUTE)

    assert len(_opened(rule)) == (2 if reopens else 1)


def test_a_rule_held_back_by_business_hours_fires_when_they_begin(
    settings: Any,
) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(
        integration,
        "consecutive_failures",
        ">=",
        3,
        business_hours_only=True,
        business_hours_start=datetime.time(8, 0),
        business_hours_end=datetime.time(18, 0),
    )
    # Wednesday 07:30 in Berlin (UTC+2 in June).
    early = datetime.datetime(2026, 6, 3, 5, 30, tzinfo=datetime.UTC)

    engine.evaluate(now=early)
    assert _opened(rule) == []

    engine.evaluate(now=early + 30 * MINUTE)
    assert len(_opened(rule)) == 1


BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
WEEKDAYS = [1, 2, 3, 4, 5]


def _at(tz: zoneinfo.ZoneInfo, *parts: int, fold: int = 0) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=tz, fold=fold)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("when", "start", "end", "days", "inside"),
    [
        # Plain day window: start inclusive, end exclusive.
        (_at(BERLIN, 2026, 6, 3, 8, 0), (8, 0), (18, 0), WEEKDAYS, True),
        (_at(BERLIN, 2026, 6, 3, 7, 59), (8, 0), (18, 0), WEEKDAYS, False),
        (_at(BERLIN, 2026, 6, 3, 18, 0), (8, 0), (18, 0), WEEKDAYS, False),
        (_at(BERLIN, 2026, 6, 6, 12, 0), (8, 0), (18, 0), WEEKDAYS, False),  # Saturday
        (_at(BERLIN, 2026, 6, 7, 12, 0), (8, 0), (18, 0), [7], True),  # Sunday is 7
        # A night shift crossing midnight belongs to the day it started on.
        (_at(BERLIN, 2026, 6, 5, 23, 0), (22, 0), (6, 0), WEEKDAYS, True),  # Friday
        (
            _at(BERLIN, 2026, 6, 6, 3, 0),
            (22, 0),
            (6, 0),
            WEEKDAYS,
            True,
        ),  # Friday's night
        (
            _at(BERLIN, 2026, 6, 8, 3, 0),
            (22, 0),
            (6, 0),
            WEEKDAYS,
            False,
        ),  # Sunday's night
        (_at(BERLIN, 2026, 6, 8, 23, 0), (22, 0), (6, 0), WEEKDAYS, True),  # Monday
        (_at(BERLIN, 2026, 6, 3, 12, 0), (22, 0), (6, 0), WEEKDAYS, False),
        # Spring forward in Berlin, Sunday 2026-03-29: 02:00 jumps to 03:00.
        (_at(BERLIN, 2026, 3, 29, 3, 0), (2, 30), (4, 0), [7], True),
        (_at(BERLIN, 2026, 3, 29, 1, 59), (2, 30), (4, 0), [7], False),
        # Fall back in New York, Sunday 2026-11-01: 01:30 happens twice.
        (_at(NEW_YORK, 2026, 11, 1, 1, 30, fold=0), (1, 0), (2, 0), [7], True),
        (_at(NEW_YORK, 2026, 11, 1, 1, 30, fold=1), (1, 0), (2, 0), [7], True),
        (_at(NEW_YORK, 2026, 11, 1, 2, 30), (1, 0), (2, 0), [7], False),
        # Equal start and end: the whole day.
        (_at(BERLIN, 2026, 6, 3, 3, 0), (0, 0), (0, 0), [3], True),
    ],
)
def test_business_hours_follow_the_local_wall_clock(
    when: datetime.datetime,
    start: tuple[int, int],
    end: tuple[int, int],
    days: list[int],
    inside: bool,
) -> None:
    tz = when.tzinfo
    assert isinstance(tz, zoneinfo.ZoneInfo)

    result = engine.in_business_hours(
        when.astimezone(datetime.UTC),
        datetime.time(*start),
        datetime.time(*end),
        days,
        tz,
    )

    assert result is inside


def test_the_same_utc_instant_changes_side_across_the_dst_switch() -> None:
    # 06:30 UTC is 07:30 in Berlin before the spring switch and 08:30 after it.
    start, end = datetime.time(8, 0), datetime.time(18, 0)
    saturday = datetime.datetime(2026, 3, 28, 6, 30, tzinfo=datetime.UTC)
    sunday = datetime.datetime(2026, 3, 29, 6, 30, tzinfo=datetime.UTC)

    assert not engine.in_business_hours(saturday, start, end, [6, 7], BERLIN)
    assert engine.in_business_hours(sunday, start, end, [6, 7], BERLIN)


def test_an_inactive_rule_is_not_evaluated(now: datetime.datetime) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(integration, "consecutive_failures", ">=", 3, is_active=False)

    engine.evaluate(now=now)

    assert _opened(rule) == []


def test_a_status_change_evaluates_that_integrations_rules_at_once(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from integrations_app.signals import announce, status_changed

    integration = IntegrationFactory(
        current_health_status="critical", consecutive_failures=3
    )
    rule = _rule(integration, "health_status", "==", 2)

    with django_capture_on_commit_callbacks(execute=True):
        announce(
            status_changed,
            Integration,
            integration_id=str(integration.pk),
            display_name=integration.display_name,
            health_status="critical",
            previous_status="warning",
            changed_at=datetime.datetime.now(datetime.UTC).isoformat(),
        )

    assert len(_opened(rule)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_evaluating_one_rule_at_once_open_one_incident(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(integration, "consecutive_failures", ">=", 3)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            engine.evaluate(now=now)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(_opened(rule)) == 1
    assert AuditEvent.objects.filter(action="open").count() == 1


def test_the_database_refuses_a_second_live_incident_for_a_pair() -> None:
    from django.db import IntegrityError, transaction

    incident = IncidentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentFactory(
            alert_rule=incident.alert_rule, integration=incident.integration
        )


def test_a_paused_rule_serves_its_duration_again_when_resumed(
    now: datetime.datetime,
) -> None:
    integration = IntegrationFactory(consecutive_failures=4)
    rule = _rule(
        integration, "consecutive_failures", ">=", 3, condition_duration_minutes=5
    )
    engine.evaluate(now=now)

    AlertRule.objects.filter(pk=rule.pk).update(is_active=False)
    engine.evaluate(now=now + 10 * MINUTE)
    assert not ConditionState.objects.exists()

    AlertRule.objects.filter(pk=rule.pk).update(is_active=True)
    engine.evaluate(now=now + 20 * MINUTE)
    assert _opened(rule) == []
    engine.evaluate(now=now + 25 * MINUTE)
    assert len(_opened(rule)) == 1
