"""Demo data for a local run: a supervisor, five QC persons with API tokens and skills, a
dozen tasks (some urgent, some needing a skill)."""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from personnel.models import Person
from personnel.services import person_create, person_skills_set, token_issue
from tasks.models import Task
from tasks.services import NewTask, task_create

SUPERVISOR_USERNAME = "supervisor"
DEFAULT_SUPERVISOR_PASSWORD = "qc-demo-supervisor"
# One password for every demo person; it passes the password validators.
PERSON_PASSWORD = "inspect-demo-2025"
# (username, name, skills): a task that needs a skill goes only to people who have it.
PEOPLE = [
    ("alice", "Alice Smith", ["welding"]),
    ("bob", "Bob Jones", ["electronics"]),
    ("carol", "Carol Nguyen", ["welding", "painting"]),
    ("dave", "Dave Patel", []),
    ("erin", "Erin Garcia", ["electronics", "metrology"]),
]
# (description, priority 0–9, skill or None for anyone)
TASKS = [
    ("Inspect weld seams on frame batch F-2291: 5 of 120 units against WPS-14", 0, "welding"),
    ("Verify wheel-hub bolt torque, lot H-0417: 20 pieces at 110 Nm ±5%", 0, None),
    ("Check label print quality and barcode readability on carton run C-8812", 0, None),
    (
        "Measure bore diameter of pump housings, lot B-3301, with the calibrated bore gauge",
        0,
        "metrology",
    ),
    ("Review the first-article inspection report for part 7731-A rev C", 0, None),
    ("Measure paint film thickness on panel run P-552 (target 80–120 µm)", 0, "painting"),
    ("Leak-test 10 valve assemblies from lot V-219 at 6 bar for 60 s", 0, None),
    ("Inspect solder joints on PCB batch 4470 to IPC-A-610 class 2", 0, "electronics"),
    (
        "Confirm that the calibration certificates of the micrometers in cell 3 are current",
        0,
        "metrology",
    ),
    ("Sample 32 bottles from filling line 2 for fill volume and cap torque", 0, None),
    (
        "RUSH: check packaging and labelling of order SO-10482 against the customer spec "
        "before dispatch",
        8,
        None,
    ),
    ("Re-inspect the 15 parts returned under NCR-0093 and record the disposition", 5, "welding"),
]


class Command(BaseCommand):
    help = (
        "Create demo data once (a supervisor, five QC persons, a dozen tasks) and print the "
        "credentials with a new API token for each; run again, it only prints them (with new "
        "tokens). Refuses unless DEBUG is on or --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help=(
                "The supervisor's password when it is created (default: $QC_DEMO_PASSWORD, "
                f"else {DEFAULT_SUPERVISOR_PASSWORD!r})."
            ),
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even though DEBUG is off. Never in production.",
        )

    def handle(self, *args, **options):
        if not (settings.DEBUG or options["force"]):
            raise CommandError(
                "DEBUG is off: this may be a production database. Use --force to seed anyway."
            )
        password = (
            options["password"] or os.environ.get("QC_DEMO_PASSWORD") or DEFAULT_SUPERVISOR_PASSWORD
        )
        try:
            with transaction.atomic():
                supervisor, created = self._supervisor(password)
                people = [
                    self._person(username, name, skills, supervisor)
                    for username, name, skills in PEOPLE
                ]
                if not Task.objects.exists():
                    task_create(
                        tasks=[
                            NewTask(description=d, priority=priority, skill=skill)
                            for d, priority, skill in TASKS
                        ]
                    )
                    self.stdout.write(
                        f"Created {len(TASKS)} demo tasks (some urgent, some needing a skill)."
                    )
                # New tokens every time: only their digests are stored, so an earlier one
                # cannot be shown again (it works until it expires).
                tokens = {
                    user.pk: token_issue(user=user).token
                    for user in [supervisor, *(p.user for p in people)]
                }
        except ValidationError as exc:
            raise CommandError(f"Could not create the demo data: {exc}") from exc

        if not created and not supervisor.check_password(password):
            password = (
                "not the one given: it was set when first seeded "
                f"(`manage.py changepassword {SUPERVISOR_USERNAME}` changes it)"
            )
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("Supervisor (admin and API)"))
        self.stdout.write(f"  username: {supervisor.username}")
        self.stdout.write(f"  password: {password}")
        self.stdout.write(f"  token:    {tokens[supervisor.pk]}")
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING("QC personnel"))
        rows = [("username", "password", "person id", "skills", "token")] + [
            (
                p.user.username,
                PERSON_PASSWORD,
                str(p.pk),
                ",".join(p.skills or ()) or "-",
                tokens[p.user.pk],
            )
            for p in people
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            )

    def _supervisor(self, password):
        User = get_user_model()
        user = User.objects.filter(username=SUPERVISOR_USERNAME).first()
        if user is not None:
            return user, False
        user = User.objects.create_superuser(username=SUPERVISOR_USERNAME, password=password)
        self.stdout.write(f"Created the supervisor {SUPERVISOR_USERNAME!r}.")
        return user, True

    def _person(self, username, name, skills, supervisor):
        person = Person.objects.select_related("user").filter(user__username=username).first()
        if person is None:
            person = person_create(name=name, username=username, password=PERSON_PASSWORD)
            if skills:
                person.skills = person_skills_set(
                    actor=supervisor, person_id=person.pk, skills=skills
                ).skills
            self.stdout.write(f"Created the QC person {username!r} ({name}).")
        return person
