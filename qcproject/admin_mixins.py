class ReadOnlyAdminMixin:
    """An audit log: seen (with the model's view permission), never written by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
