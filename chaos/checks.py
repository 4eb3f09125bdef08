"""Invariants I1–I6 (docs/engine.md, "Invariants"), checked in SQL against the tables, and
the accounting of every task the clients created.

Each check returns a list of human-readable violations (empty when it holds). The live
checks (`snapshot_i1`, `idle_while_waiting`) read one consistent snapshot, so they can run
while the engine is under load.
"""

from collections import Counter

# I1: no task in progress for two people, no person with two, `is_busy` agrees with tasks.
I1_QUERIES = {
    "person with two tasks in progress": """
        SELECT assigned_to_id, COUNT(*) FROM qc_tasks WHERE status = 'IN_PROGRESS'
        GROUP BY assigned_to_id HAVING COUNT(*) > 1""",
    "task with two open assignments": """
        SELECT task_id, COUNT(*) FROM qc_assignments WHERE ended_at IS NULL
        GROUP BY task_id HAVING COUNT(*) > 1""",
    "person with two open assignments": """
        SELECT person_id, COUNT(*) FROM qc_assignments WHERE ended_at IS NULL
        GROUP BY person_id HAVING COUNT(*) > 1""",
    "is_busy disagrees with the tasks in progress": """
        SELECT p.id, p.is_busy, t.id FROM qc_personnel p
        LEFT JOIN qc_tasks t ON t.assigned_to_id = p.id AND t.status = 'IN_PROGRESS'
        WHERE p.is_busy <> (t.id IS NOT NULL)""",
    "signed out but holding a task": """
        SELECT p.id FROM qc_personnel p JOIN qc_tasks t
          ON t.assigned_to_id = p.id AND t.status = 'IN_PROGRESS'
        WHERE p.is_logged_in = 0""",
    "task in progress without its open assignment": """
        SELECT t.id, t.assigned_to_id, a.person_id FROM qc_tasks t
        LEFT JOIN qc_assignments a ON a.task_id = t.id AND a.ended_at IS NULL
        WHERE t.status = 'IN_PROGRESS' AND (a.id IS NULL OR a.person_id <> t.assigned_to_id)""",
    "open assignment of a task not in progress": """
        SELECT a.id, a.task_id, t.status FROM qc_assignments a JOIN qc_tasks t ON t.id = a.task_id
        WHERE a.ended_at IS NULL AND t.status <> 'IN_PROGRESS'""",
}

# I4: every assignment row starts once, ends at most once with its reason, and fits its
# task's history (and its person's): no overlap, nothing after the completion.
I4_QUERIES = {
    "assignment ended without a reason, or a reason without an end": """
        SELECT id FROM qc_assignments
        WHERE (ended_at IS NULL) <> (end_reason = '')""",
    "completed_at without a COMPLETED end, or different from ended_at": """
        SELECT id FROM qc_assignments
        WHERE (completed_at IS NOT NULL) <> (end_reason = 'COMPLETED')
           OR (completed_at IS NOT NULL AND completed_at <> ended_at)""",
    "assignment ends before it starts": """
        SELECT id FROM qc_assignments WHERE ended_at < assigned_at""",
    "unknown source or end reason": """
        SELECT id, source, end_reason FROM qc_assignments
        WHERE source NOT IN ('ASSIGNER', 'LOGIN', 'COMPLETE', 'NEW_TASK', 'SUPERVISOR',
                             'DECLINE')
           OR end_reason NOT IN ('', 'COMPLETED', 'LOGOUT', 'STALE', 'SIGNED_OUT', 'RELEASED',
                                 'REASSIGNED', 'CANCELLED', 'DECLINED', 'TIMED_OUT')""",
    "a task's assignments overlap (or one stays open under a later one)": """
        SELECT id, task_id FROM (
          SELECT id, task_id, assigned_at,
                 LAG(id) OVER w AS prev_id, LAG(ended_at) OVER w AS prev_end
          FROM qc_assignments WINDOW w AS (PARTITION BY task_id ORDER BY id)) x
        WHERE prev_id IS NOT NULL AND (prev_end IS NULL OR prev_end > assigned_at)""",
    "a person's assignments overlap": """
        SELECT id, person_id FROM (
          SELECT id, person_id, assigned_at,
                 LAG(id) OVER w AS prev_id, LAG(ended_at) OVER w AS prev_end
          FROM qc_assignments WINDOW w AS (PARTITION BY person_id ORDER BY id)) x
        WHERE prev_id IS NOT NULL AND (prev_end IS NULL OR prev_end > assigned_at)""",
    # Reviews (docs/engine.md, "Outcomes"): a task is finished (COMPLETED or DISPUTED) once
    # `reviews_required` different people have completed it; each completion is a review.
    "a person who completed (reviewed) the same task twice": """
        SELECT task_id, person_id, COUNT(*) FROM qc_assignments WHERE end_reason = 'COMPLETED'
        GROUP BY task_id, person_id HAVING COUNT(*) > 1""",
    "a task whose completions differ from its reviews_done": """
        SELECT t.id, t.status, t.reviews_done, COUNT(c.id) FROM qc_tasks t
        LEFT JOIN qc_assignments c ON c.task_id = t.id AND c.end_reason = 'COMPLETED'
        GROUP BY t.id, t.status, t.reviews_done HAVING COUNT(c.id) <> t.reviews_done""",
    "COMPLETED (or DISPUTED) task with fewer different reviewers than it requires": """
        SELECT t.id, t.status, t.reviews_required, COUNT(DISTINCT c.person_id) FROM qc_tasks t
        LEFT JOIN qc_assignments c ON c.task_id = t.id AND c.end_reason = 'COMPLETED'
        WHERE t.status IN ('COMPLETED', 'DISPUTED')
        GROUP BY t.id, t.status, t.reviews_required
        HAVING COUNT(DISTINCT c.person_id) < t.reviews_required""",
    "open task with all the reviews it needs": """
        SELECT id, status, reviews_done, reviews_required FROM qc_tasks
        WHERE status IN ('PENDING', 'IN_PROGRESS') AND reviews_done >= reviews_required""",
    "task given by an automatic path to a person after their review of it": """
        SELECT a.id, a.task_id, a.person_id, a.source FROM qc_assignments c
        JOIN qc_assignments a
          ON a.task_id = c.task_id AND a.person_id = c.person_id AND a.id > c.id
        WHERE c.end_reason = 'COMPLETED' AND a.source <> 'SUPERVISOR'""",
    "task given to a person after their review of it, even by a supervisor": """
        SELECT a.id, a.task_id, a.person_id, a.source FROM qc_assignments c
        JOIN qc_assignments a
          ON a.task_id = c.task_id AND a.person_id = c.person_id AND a.id > c.id
        WHERE c.end_reason = 'COMPLETED'""",
    "review of a task awaiting more reviews without its exclusion": """
        SELECT c.id, c.task_id, c.person_id FROM qc_assignments c
        JOIN qc_tasks t ON t.id = c.task_id
        LEFT JOIN qc_task_exclusions e ON e.task_id = c.task_id AND e.person_id = c.person_id
        WHERE c.end_reason = 'COMPLETED' AND t.reviews_done < t.reviews_required
          AND e.id IS NULL""",
    "a finished task assigned again after its last review, or finished by someone else": """
        SELECT t.id, t.status, t.assigned_to_id, a.id, a.person_id, a.end_reason
        FROM qc_tasks t
        LEFT JOIN (SELECT task_id, MAX(id) AS last_id FROM qc_assignments GROUP BY task_id) l
          ON l.task_id = t.id
        LEFT JOIN qc_assignments a ON a.id = l.last_id
        WHERE t.status IN ('COMPLETED', 'DISPUTED')
          AND (a.id IS NULL OR a.end_reason <> 'COMPLETED'
               OR a.person_id <> t.assigned_to_id)""",
    "a verdict on an assignment that did not complete, or an unknown verdict": """
        SELECT id, outcome, end_reason FROM qc_assignments
        WHERE outcome NOT IN ('', 'pass', 'fail')
           OR (outcome <> '' AND end_reason <> 'COMPLETED')""",
    "DISPUTED task with an outcome, or an unknown outcome": """
        SELECT id, status, outcome FROM qc_tasks
        WHERE outcome NOT IN ('', 'pass', 'fail') OR (status = 'DISPUTED' AND outcome <> '')""",
    "PENDING (or EXPIRED) task with an assignee": """
        SELECT id FROM qc_tasks
        WHERE status IN ('PENDING', 'EXPIRED') AND assigned_to_id IS NOT NULL""",
    "a task first assigned before it was created": """
        SELECT t.id FROM qc_tasks t JOIN qc_assignments a ON a.task_id = t.id
        WHERE a.assigned_at < t.created_at""",
}


# I6: the routing rules (docs/engine.md, "Routing"). `%(relax)s` is QC_SKILL_RELAX_AFTER of
# the run: a task given to someone without its skill must have waited that long by then.
I6_QUERIES = {
    "task in progress for a person without its skill (and not relaxed when given)": """
        SELECT t.id, t.skill, p.id FROM qc_tasks t
        JOIN qc_personnel p ON p.id = t.assigned_to_id
        JOIN qc_assignments a ON a.open_task = t.id
        WHERE t.status = 'IN_PROGRESS' AND t.skill IS NOT NULL
          AND NOT JSON_CONTAINS(p.skills, JSON_QUOTE(t.skill))
          AND NOT (%(relax)s > 0
                   AND a.assigned_at >= t.created_at + INTERVAL %(relax)s SECOND)""",
    "task given again, by an automatic path, to a person who declined it": """
        SELECT a.id, a.task_id, a.person_id FROM qc_assignments d JOIN qc_assignments a
          ON a.task_id = d.task_id AND a.person_id = d.person_id AND a.id > d.id
        WHERE d.end_reason = 'DECLINED' AND a.source <> 'SUPERVISOR'""",
    "decline without its exclusion": """
        SELECT d.id FROM qc_assignments d LEFT JOIN qc_task_exclusions e
          ON e.task_id = d.task_id AND e.person_id = d.person_id
        WHERE d.end_reason = 'DECLINED' AND e.id IS NULL""",
    "decline reason on an assignment that was not declined, or a decline without one": """
        SELECT id FROM qc_assignments
        WHERE (decline_reason <> '') <> (end_reason = 'DECLINED')""",
    "task given at or after its expiry (beyond the second between pick and write)": """
        SELECT a.id, a.task_id FROM qc_assignments a JOIN qc_tasks t ON t.id = a.task_id
        WHERE t.expires_at IS NOT NULL AND a.assigned_at >= t.expires_at + INTERVAL 1 SECOND""",
    "EXPIRED task that had not expired": """
        SELECT id FROM qc_tasks
        WHERE status = 'EXPIRED' AND (expires_at IS NULL OR expires_at > NOW(6))""",
}


def routing_checks(conn, *, relax: int = 0) -> list[str]:
    """I6 over the tables (safe while the engine runs: each rule holds row by row)."""
    cur = conn.cursor()
    found = []
    for name, sql in I6_QUERIES.items():
        cur.execute(sql, {"relax": int(relax)})
        rows = cur.fetchmany(5)
        if rows:
            found.append(f"I6 {name}: {list(rows)}")
    return found


def _run(cursor, queries: dict, prefix: str) -> list[str]:
    found = []
    for name, sql in queries.items():
        cursor.execute(sql)
        rows = cursor.fetchmany(5)
        if rows:
            found.append(f"{prefix} {name}: {list(rows)}")
    return found


def snapshot_i1(conn) -> list[str]:
    """I1 on one consistent snapshot: safe while the engine runs."""
    cur = conn.cursor()
    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    try:
        return _run(cur, I1_QUERIES, "I1")
    finally:
        cur.execute("COMMIT")
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")


def idle_while_waiting(conn, *, timeout: float, interval: float, slack: float) -> list[str]:
    """I2 once load stops: no task waits while a live, free person has been idle longer than
    a cycle (plus slack). On the database's clock."""
    cur = conn.cursor()
    cur.execute(
        """
        SELECT p.id, TIMESTAMPDIFF(MICROSECOND, p.idle_since, NOW(6)) / 1e6
        FROM qc_personnel p
        WHERE p.is_logged_in = 1 AND p.is_busy = 0
          AND p.last_heartbeat >= NOW(6) - INTERVAL %s SECOND
          AND p.idle_since < NOW(6) - INTERVAL %s SECOND
          AND EXISTS (SELECT 1 FROM qc_tasks WHERE status = 'PENDING')
        LIMIT 5""",
        (timeout, interval + slack),
    )
    rows = cur.fetchall()
    return [f"I2 people idle for a cycle while tasks wait: {list(rows)}"] if rows else []


def stale_holders(conn, *, timeout: float, interval: float, slack: float) -> list[str]:
    """I3: no task stays in progress under a dead session longer than timeout + cycle +
    slack, and no dead session stays signed in that long."""
    cur = conn.cursor()
    limit = timeout + interval + slack
    cur.execute(
        """
        SELECT t.id, p.id FROM qc_tasks t JOIN qc_personnel p ON p.id = t.assigned_to_id
        WHERE t.status = 'IN_PROGRESS' AND p.last_heartbeat < NOW(6) - INTERVAL %s SECOND
        LIMIT 5""",
        (limit,),
    )
    found = []
    rows = cur.fetchall()
    if rows:
        found.append(f"I3 tasks held by sessions dead for over {limit:.1f}s: {list(rows)}")
    cur.execute(
        """SELECT id FROM qc_personnel
           WHERE is_logged_in = 1 AND last_heartbeat < NOW(6) - INTERVAL %s SECOND LIMIT 5""",
        (limit,),
    )
    rows = cur.fetchall()
    if rows:
        found.append(f"I3 sessions dead for over {limit:.1f}s still signed in: {list(rows)}")
    return found


def final_checks(conn, *, relax: int = 0) -> list[str]:
    """I1, I4 and I6 over the quiescent tables (`relax`: the run's QC_SKILL_RELAX_AFTER)."""
    cur = conn.cursor()
    return (
        _run(cur, I1_QUERIES, "I1")
        + _run(cur, I4_QUERIES, "I4")
        + routing_checks(conn, relax=relax)
    )


def accounting(conn, batches, completes) -> tuple[list[str], int, dict]:
    """I3 and I5 against what the clients were told.

    - every task is one the producers asked for, created once (no duplicate description);
    - a create answered 201 is in the table, with the ids the answer gave;
    - a create refused (4xx) left nothing behind; one with no clear answer (503, no answer)
      left all of its tasks or none (a bulk is one transaction);
    - I5: every complete answered 200 is a completion (a review) recorded for that task, by
      that person;
    - after the drain every task is COMPLETED or DISPUTED (its reviews disagree, for a
      supervisor to resolve): anything else is lost.

    Returns (violations, lost tasks, figures).
    """
    cur = conn.cursor()
    cur.execute("SELECT id, description, status FROM qc_tasks")
    rows = cur.fetchall()
    by_description: dict[str, list[tuple[int, str]]] = {}
    for task_id, description, status in rows:
        by_description.setdefault(description, []).append((task_id, status))
    found: list[str] = []

    duplicates = [d for d, tasks in by_description.items() if len(tasks) > 1]
    if duplicates:
        found.append(f"I3 tasks created twice: {duplicates[:5]}")
    asked = set()
    missing = []
    for batch in batches:
        asked.update(batch.descriptions)
        present = [d for d in batch.descriptions if d in by_description]
        if batch.outcome == "ok":
            absent = [d for d in batch.descriptions if d not in by_description]
            missing += absent
            ids = sorted(t for d in batch.descriptions for t, _ in by_description.get(d, []))
            if not absent and ids != sorted(batch.ids):
                found.append(f"I3 create answered ids {batch.ids} but stored {ids}")
        elif batch.outcome == "refused":
            if present:
                found.append(f"I3 refused create half-written: {present[:3]}")
        elif present and len(present) != len(batch.descriptions):
            found.append(f"I3 bulk create partly stored ({len(present)}/{len(batch.descriptions)})")
    if missing:
        found.append(f"I3 tasks acknowledged (201) but not stored: {missing[:5]}")
    phantoms = [d for d in by_description if d not in asked]
    if phantoms:
        found.append(f"I3 tasks nobody asked for: {phantoms[:5]}")

    cur.execute("SELECT task_id, person_id FROM qc_assignments WHERE end_reason = 'COMPLETED'")
    reviewed: dict[int, list[int]] = {}
    for task, person in cur.fetchall():
        reviewed.setdefault(task, []).append(person)
    wrong = [
        (task, person, reviewed.get(task))
        for task, person, status in completes
        if status == 200 and person not in reviewed.get(task, ())
    ]
    # A supervisor's complete is recorded against the holder; the clients here are people,
    # who complete only for themselves, so the person in the answer must be the completer.
    if wrong:
        found.append(
            f"I5 complete answered 200 but recorded otherwise (task, by, recorded): {wrong[:5]}"
        )

    statuses = Counter(status for _, _, status in rows)
    open_tasks = statuses["PENDING"] + statuses["IN_PROGRESS"]
    lost = open_tasks + len(missing)
    if open_tasks:
        found.append(f"I3 tasks still open after the drain: {open_tasks}")
    figures = {
        "tasks": len(rows),
        "completed": statuses["COMPLETED"],
        "reviews": _reviews(cur),
        "unclear_creates": sum(1 for b in batches if b.outcome == "unknown"),
    }
    return found, lost, figures


def _reviews(cur) -> dict:
    """What the reviews came to (docs/engine.md, "Outcomes"): tasks that needed several,
    had several, were sampled or disputed; the verdicts given and the reviews logging
    defect codes. The short run's test checks that there was something to check."""
    cur.execute(
        """SELECT COUNT(*), COALESCE(SUM(reviews_required > 1), 0),
                  COALESCE(SUM(reviews_done > 1), 0), COALESCE(SUM(sampled), 0),
                  COALESCE(SUM(status = 'DISPUTED'), 0)
           FROM qc_tasks"""
    )
    _, several, reviewed_twice, sampled, disputed = cur.fetchone()
    cur.execute(
        """SELECT COALESCE(SUM(outcome = 'pass'), 0), COALESCE(SUM(outcome = 'fail'), 0),
                  COALESCE(SUM(defects IS NOT NULL), 0)
           FROM qc_assignments WHERE end_reason = 'COMPLETED'"""
    )
    passed, failed, with_defects = cur.fetchone()
    return {
        "several required": int(several),
        "reviewed more than once": int(reviewed_twice),
        "sampled": int(sampled),
        "disputed": int(disputed),
        "pass": int(passed),
        "fail": int(failed),
        "with defects": int(with_defects),
    }
