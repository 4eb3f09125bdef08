"""The webhook part of a scenario: delivery workers (`manage.py run_webhooks`) killed with
SIGKILL at random, and a receiver (`python -m events.testing`, verifying every signature)
that fails for a few seconds now and then, while the people, producers and assigners work.

After the drain, every event must reach the receiver at least once (0 lost), each task's
events in order (an event never arrives after a later one of its task had arrived), with
valid signatures; duplicates are counted and reported, not violations. The events must also
tell exactly the story of the engine's tables (`events/tests/checks.py`).
"""

import json
import logging
import signal
import time
import urllib.request

from chaos.infra import Child, free_port, python_argv

logger = logging.getLogger("chaos")

WORKERS = 2
KILL_EVERY = 6.0  # seconds, ± half, SIGKILL of a random worker
OUTAGE_EVERY = 9.0  # seconds, ± half, the receiver answers 503
OUTAGE_SECONDS = 2.5
RESTART_DELAY = 1.0  # systemd's RestartSec
DELIVERY_PATIENCE = 150.0  # seconds after the drain for every delivery to be made
# A short request timeout, so a killed worker's lease (3 × timeout + margin) runs out soon.
TIMEOUT = "2"


class WebhookChaos:
    def __init__(self, harness, out):
        self.h = harness
        self.out = out
        self.rng = harness.rng
        self.receiver: Child | None = None
        self.workers: list[dict] = []
        self.port = free_port()

    def env(self) -> dict:
        return self.h.child_env(QC_WEBHOOK_ALLOWED_HOSTS="127.0.0.1", QC_WEBHOOK_TIMEOUT=TIMEOUT)

    def start(self) -> "WebhookChaos":
        from django.conf import settings
        from django.db import connection

        from events import services

        connection.close()  # the database may have restarted under this connection
        settings.QC_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
        endpoint = services.endpoint_create(url=f"http://127.0.0.1:{self.port}/hook")
        logs = self.h.workdir / "logs"
        self.receiver = Child(
            "receiver",
            python_argv(
                "-m", "events.testing", "--port", str(self.port), "--secret", endpoint.secret
            ),
            env=self.env(),
            log=logs / "receiver.log",
        ).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self._get()
                break
            except OSError:
                time.sleep(0.1)
        for slot in range(WORKERS):
            self.workers.append({"slot": slot, "child": None, "dead_since": None})
            self._start_worker(self.workers[-1])
        now = time.monotonic()
        self.next_kill = now + KILL_EVERY * self.rng.uniform(0.5, 1.5)
        self.next_outage = now + OUTAGE_EVERY * self.rng.uniform(0.5, 1.5)
        return self

    def _start_worker(self, state: dict) -> None:
        state["child"] = Child(
            f"webhooks-{state['slot']}",
            python_argv("manage.py", "run_webhooks", "--interval", "0.2"),
            env=self.env(),
            log=self.h.workdir / "logs" / f"webhooks-{state['slot']}.log",
        ).start()
        state["dead_since"] = None

    def _count(self, kind: str) -> None:
        self.out.faults[kind] = self.out.faults.get(kind, 0) + 1

    def tick(self, now: float) -> None:
        """During the load: kill a worker now and then, make the receiver fail now and then,
        restart dead workers as systemd would."""
        self.supervise(now)
        if now >= self.next_kill:
            state = self.rng.choice(self.workers)
            if state["child"].returncode() is None:
                state["child"].signal(signal.SIGKILL)
                self._count("webhook worker kill")
            self.next_kill = now + KILL_EVERY * self.rng.uniform(0.5, 1.5)
        if now >= self.next_outage:
            try:
                self._post({"fail_for": OUTAGE_SECONDS, "status": 503})
                self._count("receiver outage")
            except OSError:
                logger.exception("could not reach the receiver")
            self.next_outage = now + OUTAGE_EVERY * self.rng.uniform(0.5, 1.5)

    def supervise(self, now: float) -> None:
        for state in self.workers:
            rc = state["child"].returncode()
            if rc is None:
                continue
            if state["dead_since"] is None:
                state["dead_since"] = now
                if rc != -signal.SIGKILL:
                    self.out.violations.append(f"webhook worker exited by itself (status {rc})")
            if now - state["dead_since"] >= RESTART_DELAY:
                self._start_worker(state)

    def finish(self) -> None:
        """After the drain: wait for every delivery, then check what the receiver got."""
        from django.db import connection

        from events import services
        from events.models import Delivery, DeliveryStatus, Event, WebhookEndpoint
        from events.tests.checks import story_differences

        connection.close()
        deadline = time.monotonic() + DELIVERY_PATIENCE
        while time.monotonic() < deadline:
            self.supervise(time.monotonic())
            services.events_sequence()
            waiting = Delivery.objects.filter(status=DeliveryStatus.PENDING).count()
            unsent = Event.objects.filter(seq__isnull=True).count()
            cursor = WebhookEndpoint.objects.values_list("cursor", flat=True).get()
            behind = cursor < services.events_last_seq()
            if not (waiting or unsent or behind):
                break
            time.sleep(0.5)
        events = {
            seq: task_id for seq, task_id in Event.objects.values_list("seq", "task_id") if seq
        }
        got = self._get()
        figures = self.check(events, got)
        failed = Delivery.objects.filter(status=DeliveryStatus.FAILED).count()
        if failed:
            self.out.violations.append(f"{failed} webhook deliveries failed for good")
        self.out.violations += [f"events: {p}" for p in story_differences()]
        figures["failed"] = failed
        self.out.events = figures
        self.out.lost += figures["lost"]
        self.stop()

    def check(self, events: dict[int, int | None], got: dict) -> dict:
        arrivals = got["received"]
        seen: set[int] = set()
        latest: dict[int, int] = {}
        duplicates = out_of_order = 0
        for r in arrivals:
            seq = r["payload"]["id"]
            if seq in seen:
                duplicates += 1
            seen.add(seq)
            task = r["payload"]["data"].get("task_id")
            if task is not None:
                if seq < latest.get(task, 0):
                    out_of_order += 1
                    if out_of_order <= 5:
                        self.out.violations.append(
                            f"webhook: event {seq} of task {task} arrived after event "
                            f"{latest[task]} of the same task"
                        )
                latest[task] = max(seq, latest.get(task, 0))
        lost = [seq for seq in events if seq not in seen]
        if lost:
            self.out.violations.append(
                f"webhook: {len(lost)} events never arrived, e.g. {lost[:5]}"
            )
        if got["bad_signatures"]:
            self.out.violations.append(f"webhook: {got['bad_signatures']} bad signatures")
        unknown = seen - set(events)
        if unknown:
            self.out.violations.append(f"webhook: {len(unknown)} arrivals of unknown events")
        return {
            "events": len(events),
            "delivered": len(seen & set(events)),
            "requests": got["requests"],
            "refused (outages)": got["refused"],
            "duplicates": duplicates,
            "out of order": out_of_order,
            "lost": len(lost),
        }

    @staticmethod
    def missing(out) -> list[str]:
        return [k for k in ("webhook worker kill", "receiver outage") if not out.faults.get(k)]

    def stop(self) -> None:
        for state in self.workers:
            if state["child"] is not None:
                state["child"].stop(10)
        self.workers = []
        if self.receiver is not None:
            self.receiver.stop(5)
            self.receiver = None

    def _get(self) -> dict:
        url = f"http://127.0.0.1:{self.port}/_received"
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.loads(r.read())

    def _post(self, order: dict) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_control",
            data=json.dumps(order).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5):
            pass
