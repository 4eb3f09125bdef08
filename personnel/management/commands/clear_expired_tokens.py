from django.core.management.base import BaseCommand

from personnel.services import tokens_delete_expired


class Command(BaseCommand):
    help = (
        "Delete expired API tokens (they authenticate nothing). Like Django's clearsessions, "
        "meant to run daily."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"{tokens_delete_expired()} expired API token(s) deleted.")
