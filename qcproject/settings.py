"""Settings for qc-assign: one module, driven by environment variables (django-environ).

A `.env` file in the project directory is read when present; the real environment wins.
Every variable is listed in `.env.example`.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

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
    QC_PRIORITY_AGING=(int, 600),
    QC_SKILL_RELAX_AFTER=(int, 0),
    QC_RECONNECT_GRACE=(int, 300),
    QC_MAX_HANDLE_TIME=(int, 0),
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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Oversized (413) and too deeply nested (400) JSON bodies, before anything reads them.
    "qcproject.middleware.RequestBodyGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
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

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

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
    # DRF's, with a shortcut for clients that ask for JSON or anything (most of them).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "qcproject.negotiation.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "qcproject.api.QueuePagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "qcproject.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "qc-assign API",
    "DESCRIPTION": (
        "Hands quality-control tasks to QC personnel automatically. Authenticate with "
        "`POST /auth/token` and send `Authorization: Token <token>`, or use a browser session."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: no CDN needed on a closed network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["qcproject.api.schema_without_optional_slash"],
    # The answers every operation can give besides its own (401, 403, 400, 413, 404, 503).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "qcproject.api.schema_common_responses",
    ],
}

# The engine's knobs.
QC_HEARTBEAT_TIMEOUT = env("QC_HEARTBEAT_TIMEOUT")
QC_ASSIGNER_INTERVAL = env("QC_ASSIGNER_INTERVAL")
QC_ASSIGN_BATCH_SIZE = env("QC_ASSIGN_BATCH_SIZE")
QC_MAX_BULK_TASKS = env("QC_MAX_BULK_TASKS")
QC_MAX_IMPORT_ROWS = env("QC_MAX_IMPORT_ROWS")
# Routing (docs/engine.md, "Routing"). A pending task's effective priority rises one level
# for every QC_PRIORITY_AGING seconds it has waited, up to the highest (0: no aging); a task
# that has waited QC_SKILL_RELAX_AFTER seconds may go to anyone, whatever its skill (0:
# never); a person signing in within QC_RECONNECT_GRACE seconds of a stale session gets the
# task it released back if it still waits (0: never); a task in progress longer than its
# `max_handle_seconds`, or QC_MAX_HANDLE_TIME when it has none, goes back to the queue (0:
# no limit).
QC_PRIORITY_AGING = env("QC_PRIORITY_AGING")
QC_SKILL_RELAX_AFTER = env("QC_SKILL_RELAX_AFTER")
QC_RECONNECT_GRACE = env("QC_RECONNECT_GRACE")
QC_MAX_HANDLE_TIME = env("QC_MAX_HANDLE_TIME")
for _name in (
    "QC_PRIORITY_AGING",
    "QC_SKILL_RELAX_AFTER",
    "QC_RECONNECT_GRACE",
    "QC_MAX_HANDLE_TIME",
):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} is a number of seconds, 0 or more.")
# /metrics answers a `Authorization: Bearer <QC_METRICS_TOKEN>` scrape, a client in
# QC_METRICS_ALLOWED_NETWORKS (only for scrapes that reach gunicorn directly: behind a proxy
# on the same host every client looks like 127.0.0.1), or a signed-in supervisor.
QC_METRICS_TOKEN = env("QC_METRICS_TOKEN")
QC_METRICS_ALLOWED_NETWORKS = env("QC_METRICS_ALLOWED_NETWORKS")

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
