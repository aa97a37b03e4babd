from __future__ import annotations

import factory

from integrations_app.models import Dependency, HealthCheck, Integration


class IntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Integration

    name = factory.Sequence(lambda n: f"service_{n}")
    display_name = factory.Sequence(lambda n: f"Service {n}")
    service_type = "api"
    base_url = factory.Sequence(lambda n: f"https://api{n}.example.com")
    health_check_endpoint = "/health"
    auth_type = "none"


class HealthCheckFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HealthCheck

    integration = factory.SubFactory(IntegrationFactory)
    response_time_ms = 120
    status_code = 200
    is_successful = True
    health_status = "healthy"


class DependencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dependency

    integration = factory.SubFactory(IntegrationFactory)
    depends_on = factory.SubFactory(IntegrationFactory)
    dependency_type = "hard"
