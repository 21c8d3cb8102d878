from django import forms
from django.utils.http import url_has_allowed_host_and_scheme


class VoteForm(forms.Form):
    """One ballot: which of the poll's answers, and the page to return to afterwards."""

    choice = forms.TypedChoiceField(
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Please choose an answer before voting.",
            "invalid_choice": "That answer is not one of this poll's answers. Please choose again.",
        },
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, poll, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.poll = poll
        # The poll's choices are prefetched, so building the form costs no query.
        self.fields["choice"].choices = [(c.pk, c.text) for c in poll.choices.all()]
        self.fields["choice"].label = poll.question

    def safe_next_url(self, request):
        """The page the vote came from, if it is on this site; else None."""
        url = self.cleaned_data.get("next") or ""
        if url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return url
        return None
