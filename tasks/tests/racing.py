"""A burn-down race for the concurrency tests: threads that start together, each on its own
database connection, the first error stopping them all; and an assigner loop to race."""

import threading
import time

from django.db import connection

from tasks.assigner import assignment_cycle


class Race:
    def __init__(self, threads: int):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.starting = threading.Barrier(threads, timeout=30)

    def thread(self, body) -> threading.Thread:
        """A thread that waits for the others, runs `body`, records its error (stopping the
        race) and closes its connection."""

        def run():
            try:
                self.starting.wait()
                body()
            except BaseException as exc:
                self.errors.append(exc)
                self.stop.set()
            finally:
                connection.close()

        return threading.Thread(target=run, daemon=True)

    def assigner(self) -> None:
        """The assigner's cycle, over and over, until the race stops."""
        while not self.stop.is_set():
            assignment_cycle(stop=self.stop)
            time.sleep(0.002)
