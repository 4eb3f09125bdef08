"""Django's MySQL/MariaDB backend, with the project's deferred writes
(`qcproject.rawsql.defer`): a transaction's writes that wait for its next statement go with
it in one round trip, what is left goes before COMMIT, and a ROLLBACK forgets them."""

from django.db.backends.mysql import base

from qcproject import rawsql


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The outermost wrapper: statements carry the deferred writes, whatever else wraps.
        self.execute_wrappers.insert(0, rawsql.send_deferred)

    def _commit(self):
        if self.connection is not None:
            rawsql.flush(self)
        return super()._commit()

    def _rollback(self):
        rawsql.discard(self)
        return super()._rollback()

    def _close(self):
        rawsql.discard(self)
        return super()._close()
