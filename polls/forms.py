from django import forms


class VoteForm(forms.Form):
    """One ballot: which of the poll's answers."""

    choice = forms.TypedChoiceField(
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Please choose an answer before voting.",
            "invalid_choice": "That answer is not one of this poll's answers. Please choose again.",
        },
    )

    def __init__(self, poll, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.poll = poll
        # The poll's choices are prefetched, so building the form costs no query.
        self.fields["choice"].choices = [(c.pk, c.text) for c in poll.choices.all()]
        self.fields["choice"].label = poll.question

    def clean_choice(self):
        if len(self.data.getlist("choice")) > 1:
            raise forms.ValidationError("Please choose only one answer.")
        return self.cleaned_data["choice"]
