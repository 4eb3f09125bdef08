"""Settings for qc-assign: one module, driven by environment variables (django-environ).

A `.env` file in the project directory is read when present; the real environment wins.
Every variable is listed in `.env.example`.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
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
    QC_MAX_IMPORT_BYTES=(int, 50 * 1024 * 1024),
    QC_IMPORT_PENDING_MINUTES=(int, 60),
    QC_ASSIGNER_STALE_AFTER=(int, 3600),
    QC_RETAIN_HOURLY_DAYS=(int, 90),
    TIME_ZONE=(str, "UTC"),
    QC_TOKEN_TTL=(int, 8 * 3600),
    QC_IDLE_REFRESH_INTERVAL=(int, 300),
    QC_LOGIN_FAILURE_LIMIT=(int, 10),
    QC_LOGIN_LOCKOUT_MINUTES=(int, 15),
    QC_TOKEN_THROTTLE_RATE=(str, "1000/hour"),
    SESSION_COOKIE_AGE=(int, 8 * 3600),
    QC_WEBHOOK_RETRY_HOURS=(float, 24.0),
    QC_WEBHOOK_ALLOWED_HOSTS=(list, []),
    QC_WEBHOOK_TIMEOUT=(float, 10.0),
    QC_WEBHOOK_CONCURRENCY=(int, 32),
    QC_WEBHOOK_INTERVAL=(float, 0.25),
    QC_EVENT_RETENTION_DAYS=(int, 30),
    QC_PRIORITY_AGING=(int, 600),
    QC_SKILL_RELAX_AFTER=(int, 0),
    QC_RECONNECT_GRACE=(int, 300),
    QC_MAX_HANDLE_TIME=(int, 0),
    QC_REQUIRE_OUTCOME=(bool, False),
    QC_REVIEW_SAMPLE_RATE=(float, 0.0),
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
    # The old token table: its rows are hashed into personnel's by a migration, and nothing
    # authenticates against it any more.
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # before personnel, whose admin replaces axes' lockout list
    "csp",
    "personnel",
    "tasks",
    "events",
]

MIDDLEWARE = [
    # Responses by status code for /metrics (the error-rate alert): around everything else.
    "tasks.metrics.ResponseCountMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # django-csp's, with a fixed policy for what is not a page (the API's JSON).
    "qcproject.middleware.ContentSecurityPolicyMiddleware",
    # Bodies too large to read (413), before anything reads them.
    "qcproject.middleware.RequestBodyGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After the session middleware, so that it marks a session to save before that one saves.
    "qcproject.middleware.SessionIdleTimeoutMiddleware",
    # The language: the chooser's cookie, else the browser's Accept-Language (after the
    # session, before anything that renders); programs sending a token get LANGUAGE_CODE.
    "qcproject.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's, making the message storage only when a page uses it (not for the API).
    "qcproject.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a sign-in refused for too many failures into the lockout answer.
    "axes.middleware.AxesMiddleware",
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
        # Django's backend, with the deferred writes of `qcproject.rawsql.defer`.
        db["ENGINE"] = "qcproject.mysql"
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

# The lockout check first: a locked username and address gets no further, not even with the
# right password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

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
# Shorter date formats than Django's for some languages (qcproject/formats/).
FORMAT_MODULE_PATH = ["qcproject.formats"]
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

# Shared by every web process and host: the throttle's counts (POST /auth/token) live here.
# A table in the database by default (created by a migration); CACHE_URL=redis://host:6379/0
# for Redis.
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://qc_cache")}
if CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
    # Django culls a third of the entries past MAX_ENTRIES (300), throttle counts included.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)

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
    # (Django views), and a form or multipart body sent to the API gets 415. The parser
    # refuses deep nesting and unrepresentable numbers in linear time (400), for every media
    # type DRF reads as JSON (`*/*` included).
    "DEFAULT_PARSER_CLASSES": ["qcproject.parsers.JSONParser"],
    # DRF's, with a shortcut for clients that ask for JSON or anything (most of them).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "qcproject.negotiation.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "qcproject.api.QueuePagination",
    "DEFAULT_SCHEMA_CLASS": "qcproject.schema.AutoSchema",
    "EXCEPTION_HANDLER": "qcproject.api.exception_handler",
    # No default throttles: the heartbeat path stays free of cache reads. POST /auth/token
    # has its own (personnel.auth_views).
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
    "ENUM_NAME_OVERRIDES": {
        "TaskStatus": "tasks.models.TaskStatus",
        "Outcome": "tasks.models.Outcome",
    },
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
# Outcomes (docs/engine.md, "Outcomes"): with QC_REQUIRE_OUTCOME every complete says pass or
# fail (the portal shows Pass and Fail instead of Complete); QC_REVIEW_SAMPLE_RATE is the
# share (0 to 1) of tasks completed with a single review that get a blind second review.
QC_REQUIRE_OUTCOME = env("QC_REQUIRE_OUTCOME")
QC_REVIEW_SAMPLE_RATE = env("QC_REVIEW_SAMPLE_RATE")
if not 0 <= QC_REVIEW_SAMPLE_RATE <= 1:
    raise ImproperlyConfigured("QC_REVIEW_SAMPLE_RATE is a share, from 0 to 1 (such as 0.05).")
# /metrics answers a `Authorization: Bearer <QC_METRICS_TOKEN>` scrape, a client in
# QC_METRICS_ALLOWED_NETWORKS (only for scrapes that reach gunicorn directly: behind a proxy
# on the same host every client looks like 127.0.0.1), or a signed-in supervisor.
QC_METRICS_TOKEN = env("QC_METRICS_TOKEN")
QC_METRICS_ALLOWED_NETWORKS = env("QC_METRICS_ALLOWED_NETWORKS")

# --- Sign-in, tokens and sessions ---------------------------------------------------------

# How many reverse proxies in front of gunicorn append to X-Forwarded-For: the client's
# address is the one the outermost of them saw. 0 trusts no such header (REMOTE_ADDR).
QC_PROXY_COUNT = env.int("QC_PROXY_COUNT", default=0 if DEBUG else 1)

# API tokens (personnel.tokens): unused this long, a token ends. Use pushes the end out, with
# a write at most every QC_IDLE_REFRESH_INTERVAL seconds (browser sessions likewise).
QC_TOKEN_TTL = env("QC_TOKEN_TTL")
QC_IDLE_REFRESH_INTERVAL = env("QC_IDLE_REFRESH_INTERVAL")
# POST /auth/token per client address; a shift behind one NAT must fit in it.
QC_TOKEN_THROTTLE_RATE = env("QC_TOKEN_THROTTLE_RATE")

# django-axes: failures are counted per username and address together, so that many people
# behind one address never lock each other out; a lock ends after the lockout time, or when
# a supervisor unlocks it (admin: Access attempts).
AXES_FAILURE_LIMIT = env("QC_LOGIN_FAILURE_LIMIT")
AXES_COOLOFF_TIME = timedelta(minutes=env("QC_LOGIN_LOCKOUT_MINUTES"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Tries while locked are refused without being counted: the lock ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "qcproject.network.client_address"
AXES_LOCKOUT_CALLABLE = "personnel.lockout.lockout_response"

# Browser sessions end after this many seconds without a request (one working shift by
# default: shared QC terminals). The idle timeout is kept by SessionIdleTimeoutMiddleware.
SESSION_COOKIE_AGE = env("SESSION_COOKIE_AGE")
# The portal and Swagger UI take the CSRF token from the page, never from the cookie.
CSRF_COOKIE_HTTPONLY = True

# --- Content-Security-Policy (django-csp) -----------------------------------------------------

# Pages load scripts and styles from this site only; an inline <script> or <style> needs the
# response's nonce (`{{ request.csp_nonce }}` in templates). Responses that are not pages get
# `default-src 'none'` (qcproject.middleware.ContentSecurityPolicyMiddleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

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
        # django-axes' banner at every start; its sign-in records stay at INFO.
        "axes.apps": {"level": "WARNING"},
    },
}

# --- HTTPS ------------------------------------------------------------------------------------

# Load balancers and Prometheus reach these over plain HTTP on loopback; they never redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^metrics/?$"]
SILENCED_SYSTEM_CHECKS = [
    # security.W005 (HSTS without includeSubDomains): HSTS covers this host only by default;
    # other hosts of the domain may still serve plain HTTP. SECURE_HSTS_INCLUDE_SUBDOMAINS=1
    # extends it once they do not.
    "security.W005",
    # security.W021 (no HSTS preload): preloading is a commitment of the whole domain, for
    # its owners to make (SECURE_HSTS_PRELOAD=1).
    "security.W021",
]

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Plain HTTP gets a redirect to HTTPS, and browsers remember to use HTTPS only.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_SSL_REDIRECT:
        # security.W008 (no SSL redirect): turned off on purpose, for a site whose proxy
        # redirects to HTTPS itself, or that is served by other means.
        SILENCED_SYSTEM_CHECKS.append("security.W008")
