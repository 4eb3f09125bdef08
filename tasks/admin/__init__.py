"""The supervisor workspace in the admin: tasks and their interventions (`task`), the task
import wizard (`importing`), the dashboard (`dashboard`), and the history lists with the
assignment export (`history`, `export`)."""

from . import history, task  # noqa: F401  (registers the model admins)
