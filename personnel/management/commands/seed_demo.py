"""Demo data for a local run: a supervisor, five QC persons with API tokens and skills, a
catalogue of defect codes, a history of reviewed tasks (verdicts, defects, two disputes
waiting for a supervisor and one resolved) and a dozen tasks in the queue (some urgent,
some needing a skill, some two reviews)."""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from personnel.models import Person
from personnel.services import person_create, person_skills_set, token_issue
from tasks.interventions import task_resolve
from tasks.models import DefectCode, Outcome, Task, TaskStatus
from tasks.services import NewTask, task_complete, task_create
from tasks.sessions import person_login, person_logout

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
# The defect catalogue: (code, description, active). An inactive code stays in the reviews
# that logged it and is refused in new ones.
DEFECT_CODES = [
    ("SCRATCH", "Scratch or scuff on a visible surface", True),
    ("DENT", "Dent or deformation", True),
    ("POROSITY", "Porosity or pinholes in a weld or casting", True),
    ("DIM-OUT", "Dimension out of tolerance", True),
    ("LABEL", "Label or marking missing, wrong or unreadable", True),
    ("COSMETIC", "Cosmetic defect (old catalogue: use SCRATCH or DENT)", False),
]
PASS, FAIL = Outcome.PASS.value, Outcome.FAIL.value
# The history: tasks reviewed before the demo starts, worked through the services by the
# demo's people. (description, the verdicts of its reviews in order: (outcome, defects,
# notes)); two verdicts mean reviews_required=2, and a pass with a fail makes a dispute.
HISTORY = [
    ("Inspect weld seams on frame batch F-2288: 5 of 120 units against WPS-14", [(PASS, [], "")]),
    (
        "Verify wheel-hub bolt torque, lot H-0409: 20 pieces at 110 Nm ±5%",
        [(PASS, [], "All 20 between 107 and 113 Nm.")],
    ),
    (
        "Check label print quality and barcode readability on carton run C-8790",
        [(FAIL, ["LABEL"], "Barcode unreadable on 3 of 50 cartons.")],
    ),
    ("Measure bore diameter of pump housings, lot B-3297", [(FAIL, ["DIM-OUT"], "")]),
    ("Leak-test 10 valve assemblies from lot V-214 at 6 bar for 60 s", [(PASS, [], "")]),
    (
        "Inspect painted side panels of run P-548 for surface defects",
        [(FAIL, ["SCRATCH", "DENT"], "Panel 7 scratched, panel 9 dented at the hinge.")],
    ),
    (
        "Inspect solder joints on PCB batch 4462 to IPC-A-610 class 2",
        [(PASS, [], ""), (PASS, [], "Agree: no bridging, fillets fine.")],
    ),
    (
        "Inspect cast gearbox housings, lot G-1187, for porosity at the flange",
        [(PASS, [], ""), (FAIL, ["POROSITY"], "Pinholes near the flange on 2 of 8 housings.")],
    ),
    (
        "Check the finish of the stainless handrails for order SO-10455",
        [
            (FAIL, ["SCRATCH"], "Scratches along the bend of rail 3."),
            (PASS, [], "Within the cosmetic limit of spec QS-7."),
        ],
    ),
    (
        "Final inspection of enclosure batch E-3310 before shipping",
        [(PASS, [], ""), (FAIL, ["DENT"], "Dent on the door of unit 14.")],
    ),
]
# The dispute a supervisor has resolved already (the others wait): (description, final
# outcome, note).
RESOLVED = (
    "Final inspection of enclosure batch E-3310 before shipping",
    FAIL,
    "Dent on unit 14 confirmed under the inspection light; batch held for rework.",
)
# The queue: (description, priority 0–9, skill or None for anyone, reviews required)
TASKS = [
    ("Inspect weld seams on frame batch F-2291: 5 of 120 units against WPS-14", 0, "welding", 1),
    ("Verify wheel-hub bolt torque, lot H-0417: 20 pieces at 110 Nm ±5%", 0, None, 1),
    ("Check label print quality and barcode readability on carton run C-8812", 0, None, 1),
    (
        "Measure bore diameter of pump housings, lot B-3301, with the calibrated bore gauge",
        0,
        "metrology",
        1,
    ),
    ("Review the first-article inspection report for part 7731-A rev C", 0, None, 2),
    ("Measure paint film thickness on panel run P-552 (target 80–120 µm)", 0, "painting", 1),
    ("Leak-test 10 valve assemblies from lot V-219 at 6 bar for 60 s", 0, None, 1),
    ("Inspect solder joints on PCB batch 4470 to IPC-A-610 class 2", 0, "electronics", 2),
    (
        "Confirm that the calibration certificates of the micrometers in cell 3 are current",
        0,
        "metrology",
        1,
    ),
    ("Sample 32 bottles from filling line 2 for fill volume and cap torque", 0, None, 2),
    (
        "RUSH: check packaging and labelling of order SO-10482 against the customer spec "
        "before dispatch",
        8,
        None,
        1,
    ),
    (
        "Re-inspect the 15 parts returned under NCR-0093 and record the disposition",
        5,
        "welding",
        1,
    ),
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
                self._defect_codes()
                if not Task.objects.exists():
                    self._history(people, supervisor)
                    task_create(
                        tasks=[
                            NewTask(
                                description=d,
                                priority=priority,
                                skill=skill,
                                reviews_required=reviews,
                            )
                            for d, priority, skill, reviews in TASKS
                        ]
                    )
                    self.stdout.write(
                        f"Created {len(TASKS)} demo tasks in the queue (some urgent, some "
                        "needing a skill, some two reviews)."
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

    def _defect_codes(self):
        for code, description, active in DEFECT_CODES:
            _, created = DefectCode.objects.get_or_create(
                code=code, defaults={"description": description, "active": active}
            )
            if created:
                self.stdout.write(f"Created the defect code {code}.")

    def _history(self, people, supervisor):
        """The demo's people review the HISTORY tasks through the services, as at work: all
        sign in (each gets a task), complete with the scripted verdicts (each answer gives
        the next task) until none is left, and sign out; then a supervisor resolves one
        dispute."""
        created = task_create(
            tasks=[NewTask(description=d, reviews_required=len(r)) for d, r in HISTORY]
        )
        # Each task's verdicts, in the order of its reviews.
        verdicts = {task.pk: r for task, (_, r) in zip(created, HISTORY, strict=True)}
        for person in people:
            person_login(person_id=person.pk)
        for _ in range(len(HISTORY) * 3):  # rounds; a few suffice
            held = list(
                Task.objects.filter(status=TaskStatus.IN_PROGRESS, pk__in=verdicts).values_list(
                    "pk", "assigned_to_id", "reviews_done"
                )
            )
            if not held:
                # A task back in the queue for its next review waits for the assigner,
                # which does not run here; signing in again gives it out.
                for person in people:
                    person_logout(person_id=person.pk)
                    person_login(person_id=person.pk)
                if not Task.objects.filter(status=TaskStatus.IN_PROGRESS).exists():
                    break
                continue
            for task_id, person_id, done in held:
                outcome, defects, notes = verdicts[task_id][min(done, len(verdicts[task_id]) - 1)]
                task_complete(
                    task_id=task_id,
                    person_id=person_id,
                    outcome=outcome,
                    notes=notes,
                    defects=defects,
                )
        for person in people:
            person_logout(person_id=person.pk)
        description, outcome, note = RESOLVED
        resolved = Task.objects.get(pk__in=verdicts, description=description)
        task_resolve(actor=supervisor, task_id=resolved.pk, outcome=outcome, note=note)
        disputed = Task.objects.filter(status=TaskStatus.DISPUTED).count()
        self.stdout.write(
            f"Created a history of {len(HISTORY)} reviewed tasks ({disputed} disputes waiting "
            "for a supervisor, one resolved)."
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
