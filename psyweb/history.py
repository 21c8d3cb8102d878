"""The admin's History pages: each version of a text, who saved it, what changed, and Revert.

django-simple-history keeps a version each time a model with `history = HistoricalRecords()` is
saved (never on `QuerySet.update()`, which is how votes are counted). HistoryAdmin shows the
versions on the admin's History page, each with the fields it changed, and reverts to one.
"""

from django.utils import formats, timezone
from simple_history.admin import SimpleHistoryAdmin


class HistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose History pages, and Revert, need the permission to change.

    simple-history opens them to accounts that may only view, and its Revert form saves what
    is posted to it whoever posts (it only hides the button), so an account that may not edit
    could change the text by posting there. The history is the editors'.
    """

    def has_view_history_or_change_history_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        # simple-history compares each version with the one before it on the same page only:
        # the oldest version on a page is compared with the newest of the next page too.
        versions = list(historical_records)
        if versions and (previous := versions[-1].prev_record) is not None:
            versions.append(previous)
        super().set_history_delta_changes(request, versions, foreign_keys_are_objs)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        request.restoring_version = version_id
        return super().history_form_view(request, object_id, version_id, extra_context)

    def save_model(self, request, obj, form, change):
        # A restore is a version of its own; its reason says which version it brought back.
        if getattr(request, "restoring_version", None) is not None:
            restored = obj.history.get(history_id=request.restoring_version)
            when = formats.date_format(timezone.localtime(restored.history_date), "DATETIME_FORMAT")
            obj._change_reason = f"Restored the version of {when}"
        super().save_model(request, obj, form, change)
