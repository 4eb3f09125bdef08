from django.core.management.base import BaseCommand, CommandError

from tasks.retention import KINDS


class Command(BaseCommand):
    help = (
        "Delete what is past its retention: "
        + "; ".join(f"{name} (kept {kind.retention})" for name, kind in KINDS.items())
        + ". Schedule it daily (deploy/systemd/qc-assign-prune.timer)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "kinds",
            nargs="*",
            metavar="KIND",
            help=f"Only these kinds ({', '.join(KINDS)}); default all.",
        )

    def handle(self, *args, kinds=(), verbosity=1, **options):
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise CommandError(f"Unknown kind {', '.join(unknown)}; known: {', '.join(KINDS)}.")
        for name in kinds or KINDS:
            deleted = KINDS[name].prune()
            if verbosity:
                self.stdout.write(f"{name}: deleted {deleted} rows")
