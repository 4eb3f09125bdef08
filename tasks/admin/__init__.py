"""The supervisor workspace in the admin: tasks and their interventions (`task`), the task
import wizard (`importing`), the dashboard (`dashboard`), the history lists with the
assignment and results exports (`history`, `export`), and the defect catalogue
(`defects`)."""

from . import defects, history, task  # noqa: F401  (registers the model admins)
