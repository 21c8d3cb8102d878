from django import forms

CHOOSE_ONE = "Please choose an answer before voting."


class VoteForm(forms.Form):
    """One ballot: which of the poll's answers (one, or up to `max_choices` of them)."""

    def __init__(self, poll, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.poll = poll
        # The poll's choices are prefetched, so building the form costs no query.
        choices = [(c.pk, c.text) for c in poll.choices.all()]
        errors = {
            "required": CHOOSE_ONE,
            "invalid_choice": "That answer is not one of this poll's answers. Please choose again.",
            "invalid_list": CHOOSE_ONE,
        }
        if poll.allows_several:
            field = forms.TypedMultipleChoiceField(
                coerce=int, widget=forms.CheckboxSelectMultiple, error_messages=errors
            )
        else:
            field = forms.TypedChoiceField(
                coerce=int, widget=forms.RadioSelect, error_messages=errors
            )
        field.choices = choices
        field.label = poll.question
        self.fields["choice"] = field

    def clean_choice(self):
        chosen = self.data.getlist("choice") if hasattr(self.data, "getlist") else []
        if not self.poll.allows_several and len(chosen) > 1:
            raise forms.ValidationError("Please choose only one answer.")
        if self.poll.allows_several and len(set(chosen)) > self.poll.max_choices:
            raise forms.ValidationError(f"Please choose at most {self.poll.max_choices} answers.")
        return self.cleaned_data["choice"]

    @property
    def choice_ids(self):
        """The answers chosen, as a list whatever the kind of poll (after is_valid())."""
        chosen = self.cleaned_data["choice"]
        return list(chosen) if isinstance(chosen, list) else [chosen]
