"""Settings, every one read from the environment with a safe development default."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)


def _dev_secret(filename: str, make: str) -> str:
    """Read a development secret from var/, generating it on first use."""
    path = VAR_DIR / filename
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        value = (
            Fernet.generate_key().decode()
            if make == "fernet"
            else secrets.token_urlsafe(50)
        )
        path.write_text(value)
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
_keys = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if DEBUG:
    SECRET_KEY = SECRET_KEY or _dev_secret("secret_key", "token")
    _keys = _keys or [_dev_secret("field_encryption.key", "fernet")]
elif not SECRET_KEY or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be set to 32 or more characters")
elif not _keys:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must name at least one key")

for _key in _keys:
    try:
        Fernet(_key)
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key"
        ) from exc

# Newest first: the first key encrypts, every key may decrypt.
FIELD_ENCRYPTION_KEYS: list[str] = _keys

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
WEBSOCKET_ALLOWED_ORIGINS = env.list("WEBSOCKET_ALLOWED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "channels",
    "integrations_app",
    "metrics_app",
    "alerts_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "monitor_project.urls"
ASGI_APPLICATION = "monitor_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db(
        "DATABASE_URL",
        default="postgres://postgres@127.0.0.1:5432/integration_monitor",
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="monitor"),
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": env.str("CHANNELS_PREFIX", default="monitor"),
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="monitor@localhost")
SLACK_WEBHOOK_URL = env.str("SLACK_WEBHOOK_URL", default="")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")


def _networks(raw: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in raw]
    except ValueError as exc:
        raise ImproperlyConfigured(f"MONITOR_ALLOWED_NETWORKS: {exc}") from exc


# Private or loopback networks that health checks may reach all the same.
MONITOR_ALLOWED_NETWORKS = _networks(env.list("MONITOR_ALLOWED_NETWORKS", default=[]))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "monitor_project.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Integration monitor API",
    "DESCRIPTION": "Status, metrics and incidents of the services we depend on.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}

# Health checks: outbound requests and scheduling.
# A CA bundle to trust instead of the system's (internal services, test CAs).
MONITOR_CA_BUNDLE = env.str("MONITOR_CA_BUNDLE", default="") or None
# Integrations per worker task, and checks one worker process runs at once.
CHECK_BATCH_SIZE = env.int("CHECK_BATCH_SIZE", default=25)
CHECK_THREADS = env.int("CHECK_THREADS", default=25)
# How far ahead the dispatcher claims checks; each batch waits for its due time.
# The dispatch task can queue behind checks on a busy worker: claiming further
# ahead than one dispatch period keeps checks on time through such delays. Kept
# under the shortest interval (60 s), so an on-time claim never skips a slot.
CHECK_DISPATCH_LOOKAHEAD_SECONDS = env.int(
    "CHECK_DISPATCH_LOOKAHEAD_SECONDS", default=45
)

# REST API: conflicts the database detects answer 409, and the schema serves
# to every role (it holds no data).
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "monitor_project.api.exception_handler"
SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] = ["rest_framework.permissions.AllowAny"]
SPECTACULAR_SETTINGS["SERVE_AUTHENTICATION"] = []
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "HealthStatusEnum": "integrations_app.models.HealthStatus",
    "SeverityEnum": "alerts_app.models.Severity",
}
# Under ASGI each request runs in a thread of its own, so CONN_MAX_AGE keeps
# nothing and every request would open a connection: the web process pools.
if env.bool("DATABASE_POOL", default=False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=10),
    }

# Alerting: the current partial hour counts for uptime and error rate once it
# holds this many checks; webhook bodies are signed with ALERT_WEBHOOK_SECRET
# unless a rule has its own secret; each notification is tried this many times.
ALERT_PARTIAL_HOUR_MIN_CHECKS = env.int("ALERT_PARTIAL_HOUR_MIN_CHECKS", default=3)
ALERT_WEBHOOK_SECRET = env.str("ALERT_WEBHOOK_SECRET", default="")
ALERT_NOTIFY_MAX_ATTEMPTS = env.int("ALERT_NOTIFY_MAX_ATTEMPTS", default=4)
ALERT_NOTIFY_BACKOFF_SECONDS = env.int("ALERT_NOTIFY_BACKOFF_SECONDS", default=30)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# Live updates: a Redis that is down or unreachable must fail a broadcast
# quickly, never hold a worker; reads stay longer than channels-redis' 5 s poll.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_connect_timeout": 2,
                    "socket_timeout": 15,
                },
            ],
            "prefix": env.str("CHANNELS_PREFIX", default="monitor"),
        },
    }
}
# Separate Celery key spaces on one Redis (parallel test runs, several tenants).
if _celery_prefix := env.str("CELERY_KEY_PREFIX", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": _celery_prefix}

# Row-level security: queries run as a role that no policy lets through unless
# the request, task or command says who is asking (monitor_project/access.py).
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="monitor_app")
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", DATABASE_APP_ROLE):
    raise ImproperlyConfigured("DATABASE_APP_ROLE must be a lower-case SQL name")
INSTALLED_APPS.append("access_app")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "monitor_project.access.RequestAccessMiddleware",
)
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "monitor_project.authentication.TokenAuthentication",
    "monitor_project.authentication.SessionAuthentication",
]
