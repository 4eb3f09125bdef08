from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class TasksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tasks"
    verbose_name = _("Tasks")

    def ready(self):
        from . import reviews
        from .models import DefectCode

        # A code saved or deleted here is refused or accepted by this process at once
        # (`reviews.active_codes`; the others within CATALOGUE_SECONDS).
        def changed(**kwargs):
            reviews.catalogue_changed()

        post_save.connect(changed, sender=DefectCode, dispatch_uid="qc-defect-codes-saved")
        post_delete.connect(changed, sender=DefectCode, dispatch_uid="qc-defect-codes-deleted")
