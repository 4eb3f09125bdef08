"""API authentication. Kept apart from `qcproject.api`: DRF imports the classes named in
its settings while `rest_framework.views` itself loads, so this module imports no views."""

from rest_framework import authentication, exceptions

from qcproject import sql


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, reading the user's QC person in the same query.

    Every QC person's request asks who they act as (`acting_person_id`); joining the person
    here saves that second query on each heartbeat, sign-in and complete. The query is one
    of the hot statements in `qcproject.sql`: it runs on every API request.
    """

    def authenticate_credentials(self, key):
        token = sql.token_with_user(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)
