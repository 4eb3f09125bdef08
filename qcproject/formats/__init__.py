"""Date formats that differ from Django's for a language (FORMAT_MODULE_PATH): a time in the
admin's lists with the month's short name, as long as the English one, so a list fits its
screen in every language. Everything not named here is Django's."""
