"""API authentication. Kept apart from `qcproject.api`: DRF imports the classes named in
its settings while `rest_framework.views` itself loads, so this module imports no views."""

from rest_framework import authentication, exceptions


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, reading the user's QC person in the same query.

    Every QC person's request asks who they act as (`acting_person_id`); joining the person
    here saves that second query on each heartbeat, sign-in and complete.
    """

    def authenticate_credentials(self, key):
        model = self.get_model()
        try:
            token = model.objects.select_related("user", "user__person").get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (token.user, token)
