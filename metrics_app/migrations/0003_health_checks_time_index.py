# The hourly rollup reads every integration's checks of one hour and retention
# deletes the oldest checks in batches; both need the checks ordered by time
# alone, which the (integration, time) index cannot give. Built concurrently so
# that checks keep being written while it builds on a large table.

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("integrations_app", "0003_defaults"),
        ("metrics_app", "0002_hour_sums_and_active_baseline"),
    ]

    operations = [
        migrations.RunSQL(
            sql=(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_health_checks_time"
                " ON integration_health_checks (check_timestamp)"
            ),
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS idx_health_checks_time",
        ),
    ]
