"""Settings for the benchmark's processes: the product's own, plus the baseline view's URLs.

Only the benchmark loads this module (DJANGO_SETTINGS_MODULE=bench.settings, set by
bench/run.py for itself, its gunicorn and its assigner); the product never sees bench/.
"""

from qcproject.settings import *  # noqa: F403

# The product's URLs plus the bare Django heartbeat view the heartbeat case compares with.
ROOT_URLCONF = "bench.urls"

# The benchmark runs no collectstatic; pages render plain static URLs instead of failing on
# a missing manifest. Static files are not on any path the benchmark measures.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
