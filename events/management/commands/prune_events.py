from django.core.management.base import BaseCommand, CommandError

from events.services import events_prune


class Command(BaseCommand):
    help = (
        "Delete events older than QC_EVENT_RETENTION_DAYS (or --days) whose webhook "
        "deliveries are over, with those deliveries. Schedule it, e.g. hourly."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Keep this many days.")

    def handle(self, *args, days=None, **options):
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = events_prune(days=days)
        self.stdout.write(f"{deleted} events pruned.")
