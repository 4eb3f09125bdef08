"""Settings for qc-assign: one module, driven by environment variables (django-environ).

A `.env` file in the project directory is read when present; the real environment wins.
Every variable is listed in `.env.example`.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    QC_HEARTBEAT_TIMEOUT=(int, 90),
    QC_ASSIGNER_INTERVAL=(float, 5.0),
    QC_ASSIGN_BATCH_SIZE=(int, 500),
    QC_MAX_BULK_TASKS=(int, 10_000),
    QC_MAX_IMPORT_ROWS=(int, 50_000),
    QC_METRICS_TOKEN=(str, ""),
    QC_METRICS_ALLOWED_NETWORKS=(list, []),
    QC_DB_LOCK_WAIT_TIMEOUT=(int, 5),
    QC_MAX_IMPORT_BYTES=(int, 50 * 1024 * 1024),
    QC_IMPORT_PENDING_MINUTES=(int, 60),
    QC_ASSIGNER_STALE_AFTER=(int, 3600),
    QC_RETAIN_HOURLY_DAYS=(int, 90),
    TIME_ZONE=(str, "UTC"),
    QC_WEBHOOK_RETRY_HOURS=(float, 24.0),
    QC_WEBHOOK_ALLOWED_HOSTS=(list, []),
    QC_WEBHOOK_TIMEOUT=(float, 10.0),
    QC_WEBHOOK_CONCURRENCY=(int, 32),
    QC_WEBHOOK_INTERVAL=(float, 0.25),
    QC_EVENT_RETENTION_DAYS=(int, 30),
    LOG_LEVEL=(str, "INFO"),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env("DEBUG")
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="insecure-development-key-do-not-use-in-production")
else:
    SECRET_KEY = env("SECRET_KEY")  # required: no default outside DEBUG
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "personnel",
    "tasks",
    "events",
]

MIDDLEWARE = [
    # Responses by status code for /metrics (the error-rate alert): around everything else.
    "tasks.metrics.ResponseCountMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Oversized (413) and too deeply nested (400) JSON bodies, before anything reads them.
    "qcproject.middleware.RequestBodyGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the chooser's cookie, else the browser's Accept-Language (after the
    # session, before anything that renders); programs sending a token get LANGUAGE_CODE.
    "qcproject.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's, making the message storage only when a page uses it (not for the API).
    "qcproject.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "qcproject.urls"
# Room for a bulk `POST /tasks` of QC_MAX_BULK_TASKS tasks with ordinary descriptions;
# bigger JSON bodies get 413 (qcproject.middleware). The admin's file import streams to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
# Task import files: refused by size while they arrive (tasks.importing.UploadSizeLimit),
# before anything reads them; the rest as Django's defaults (memory up to 2.5 MB, then disk).
FILE_UPLOAD_HANDLERS = [
    "tasks.importing.UploadSizeLimit",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# The seed's paths have no trailing slash; the router accepts both forms itself.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "qcproject.wsgi.application"


def _database(url: str) -> dict:
    db = environ.Env.db_url_config(url)
    engine = db["ENGINE"]
    options = db.setdefault("OPTIONS", {})
    if engine == "django.db.backends.mysql":
        # One clock for staleness: the database's, in UTC. A short lock wait keeps a frozen
        # peer from holding web requests for the server default of 50 s (docs/engine.md,
        # "MySQL and MariaDB traps", 8 and 11).
        options.setdefault(
            "init_command",
            "SET time_zone = '+00:00', "
            f"innodb_lock_wait_timeout = {env('QC_DB_LOCK_WAIT_TIMEOUT'):d}",
        )
        options.setdefault("charset", "utf8mb4")
        # READ COMMITTED is Django's default on MySQL; say so, it matters (docs/engine.md,
        # "MySQL and MariaDB traps", 2).
        options.setdefault("isolation_level", "read committed")
        db.setdefault("TEST", {}).setdefault("CHARSET", "utf8mb4")
    elif engine == "django.db.backends.sqlite3":
        # SQLite ignores FOR UPDATE: writers serialise by taking the write lock at BEGIN,
        # readers do not block writers (WAL), and a busy writer waits (docs/engine.md,
        # "MySQL and MariaDB traps", 12).
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
        options.setdefault(
            "init_command",
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        )
    db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    db["CONN_HEALTH_CHECKS"] = True
    return db


DATABASES = {
    "default": _database(env("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The zone people see: "today", the dashboard, the admin's lists, the exports' timestamps.
# The database stays in UTC (its sessions are set to +00:00 above).
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True
# The portal, sign-in and admin pages in these languages (locale/, compiled by `make`).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language chosen on a page is remembered by the browser for a year, not the session.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# The QC portal's sign-in page (Django's auth views); supervisors sign in there too.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    # Token first, so an anonymous request gets 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "personnel.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # The API takes JSON bodies only: the admin and the portal's own pages keep their forms
    # (Django views), and a form or multipart body sent to the API gets 415.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # DRF's, with a shortcut for clients that ask for JSON or anything (most of them).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "qcproject.negotiation.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "qcproject.api.QueuePagination",
    "DEFAULT_SCHEMA_CLASS": "qcproject.schema.AutoSchema",
    "EXCEPTION_HANDLER": "qcproject.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "qc-assign API",
    "DESCRIPTION": (
        "Hands quality-control tasks to QC personnel automatically. Authenticate with "
        "`POST /auth/token` and send `Authorization: Token <token>`, or use a browser session."
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: no CDN needed on a closed network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A task's status is `TaskStatus` in a generated client, as in the code.
    "ENUM_NAME_OVERRIDES": {"TaskStatus": "tasks.models.TaskStatus"},
    "PREPROCESSING_HOOKS": ["qcproject.schema.schema_without_optional_slash"],
    # The answers every operation can give besides its own (401, 403, 400, 404, 413, 415,
    # 503), each with its body; /healthz, a plain Django view.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "qcproject.schema.schema_common_responses",
        "qcproject.schema.schema_health_check",
    ],
}

# The engine's knobs.
QC_HEARTBEAT_TIMEOUT = env("QC_HEARTBEAT_TIMEOUT")
QC_ASSIGNER_INTERVAL = env("QC_ASSIGNER_INTERVAL")
QC_ASSIGN_BATCH_SIZE = env("QC_ASSIGN_BATCH_SIZE")
QC_MAX_BULK_TASKS = env("QC_MAX_BULK_TASKS")
QC_MAX_IMPORT_ROWS = env("QC_MAX_IMPORT_ROWS")
QC_MAX_IMPORT_BYTES = env("QC_MAX_IMPORT_BYTES")
# How long a checked import waits for its supervisor's confirmation.
QC_IMPORT_PENDING_MINUTES = env("QC_IMPORT_PENDING_MINUTES")
# An assigner not heard from for this long (it died and did not come back under its name)
# leaves /metrics and the dashboard, and `manage.py prune` deletes its row.
QC_ASSIGNER_STALE_AFTER = env("QC_ASSIGNER_STALE_AFTER")
# `manage.py prune`: how long the hourly counts (the dashboard's charts) are kept.
QC_RETAIN_HOURLY_DAYS = env("QC_RETAIN_HOURLY_DAYS")
# /metrics answers a `Authorization: Bearer <QC_METRICS_TOKEN>` scrape, a client in
# QC_METRICS_ALLOWED_NETWORKS (only for scrapes that reach gunicorn directly: behind a proxy
# on the same host every client looks like 127.0.0.1), or a signed-in supervisor.
QC_METRICS_TOKEN = env("QC_METRICS_TOKEN")
QC_METRICS_ALLOWED_NETWORKS = env("QC_METRICS_ALLOWED_NETWORKS")

# Events and webhooks (the `events` app). A delivery is retried with backoff for up to
# QC_WEBHOOK_RETRY_HOURS from its first attempt, then marked failed. Webhook URLs must be
# https://, except to the hosts in QC_WEBHOOK_ALLOWED_HOSTS (plain http allowed there: a
# receiver on the same host or network). Each request may take QC_WEBHOOK_TIMEOUT seconds;
# a worker keeps up to QC_WEBHOOK_CONCURRENCY requests in flight per endpoint and looks for
# new events every QC_WEBHOOK_INTERVAL seconds when idle. Events older than
# QC_EVENT_RETENTION_DAYS whose deliveries are over are pruned (`manage.py prune`).
QC_WEBHOOK_RETRY_HOURS = env("QC_WEBHOOK_RETRY_HOURS")
QC_WEBHOOK_ALLOWED_HOSTS = [h.strip().lower() for h in env("QC_WEBHOOK_ALLOWED_HOSTS") if h.strip()]
QC_WEBHOOK_TIMEOUT = env("QC_WEBHOOK_TIMEOUT")
QC_WEBHOOK_CONCURRENCY = env("QC_WEBHOOK_CONCURRENCY")
QC_WEBHOOK_INTERVAL = env("QC_WEBHOOK_INTERVAL")
QC_EVENT_RETENTION_DAYS = env("QC_EVENT_RETENTION_DAYS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL")},
    "loggers": {
        # Django's own loggers print through the root handler, once.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
