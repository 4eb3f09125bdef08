"""API authentication. Kept apart from the views: DRF imports the classes named in its
settings while `rest_framework.views` itself loads, so this module imports no views."""

from rest_framework import authentication

from . import tokens


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <token>`, checked against the stored digest by one statement
    that also loads the user's QC person (`personnel.tokens`): every QC person's request
    asks who they act as, and this answers it without a second query."""

    def authenticate_credentials(self, key):
        return tokens.token_authenticate(key)
