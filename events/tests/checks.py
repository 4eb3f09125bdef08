"""Checks that the events tell the same story as the engine's own tables (used by the tests
and, as a second opinion, by the reliability suite).

For every task, its events in order must be: `task.created`; then for each assignment, in
order, `task.assigned` to its person, and once it ended, its review or `task.released`
with its reason; and `task.cancelled` last for a cancelled task, `task.resolved` for a
dispute a supervisor resolved. A review (a completed assignment) is `task.reviewed` while
the task needs more, and the last one `task.completed`, or `task.disputed` when the
reviewers disagreed (docs/engine.md, "Outcomes"). Nothing more, nothing less.
"""

from collections import defaultdict

from events.models import Event, EventType
from tasks.models import Assignment, AuditAction, AuditEvent, EndReason, Task, TaskStatus


def expected_story() -> dict[int, list[tuple]]:
    story: dict[int, list[tuple]] = {}
    required: dict[int, int] = {}
    for task_id, reviews_required in Task.objects.values_list("id", "reviews_required"):
        story[task_id] = [(EventType.TASK_CREATED, None)]
        required[task_id] = reviews_required
    resolved = set(
        AuditEvent.objects.filter(action=AuditAction.RESOLVE).values_list("task_id", flat=True)
    )
    disputed = resolved | set(
        Task.objects.filter(status=TaskStatus.DISPUTED).values_list("id", flat=True)
    )
    ended = defaultdict(list)
    for a in Assignment.objects.order_by("id").values("task_id", "person_id", "end_reason"):
        ended[a["task_id"]].append(a)
    for task_id, rows in ended.items():
        reviews = 0
        for a in rows:
            story[task_id].append((EventType.TASK_ASSIGNED, a["person_id"]))
            if a["end_reason"] == EndReason.COMPLETED:
                reviews += 1
                if reviews < required[task_id]:
                    told = EventType.TASK_REVIEWED
                elif task_id in disputed:
                    told = EventType.TASK_DISPUTED
                else:
                    told = EventType.TASK_COMPLETED
                story[task_id].append((told, a["person_id"]))
            elif a["end_reason"]:
                story[task_id].append(
                    (EventType.TASK_RELEASED, a["person_id"], a["end_reason"].lower())
                )
    for task_id in resolved:
        story[task_id].append((EventType.TASK_RESOLVED, None))
    for task_id in Task.objects.filter(status=TaskStatus.CANCELLED).values_list("id", flat=True):
        story[task_id].append((EventType.TASK_CANCELLED,))
    return story


def told_story() -> dict[int, list[tuple]]:
    story: dict[int, list[tuple]] = defaultdict(list)
    rows = Event.objects.filter(task_id__isnull=False).order_by("id")
    for type_, task_id, person_id, data in rows.values_list("type", "task_id", "person_id", "data"):
        if type_ == EventType.TASK_RELEASED:
            story[task_id].append((type_, person_id, data.get("reason")))
        elif type_ == EventType.TASK_CANCELLED:
            story[task_id].append((type_,))
        else:
            story[task_id].append((type_, person_id))
    return story


def story_differences(limit: int = 10) -> list[str]:
    expected, told = expected_story(), told_story()
    problems = []
    for task_id in sorted(set(expected) | set(told)):
        if expected.get(task_id, []) != told.get(task_id, []):
            problems.append(
                f"task {task_id}: events {told.get(task_id, [])} where the history says "
                f"{expected.get(task_id, [])}"
            )
    return problems[:limit]


def assert_events_match_history() -> None:
    problems = story_differences()
    assert not problems, "\n".join(problems)


def assert_sequence_follows_ids_per_task() -> None:
    """Within each task, sequence numbers ascend in the order the events were written."""
    last: dict[int, tuple[int, int]] = {}
    for event_id, task_id, seq in (
        Event.objects.filter(task_id__isnull=False, seq__isnull=False)
        .order_by("id")
        .values_list("id", "task_id", "seq")
    ):
        if task_id in last:
            assert seq > last[task_id][1], f"task {task_id}: event {event_id} sequenced before"
        last[task_id] = (event_id, seq)
