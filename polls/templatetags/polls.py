from django import template

from polls.forms import VoteForm

register = template.Library()


@register.inclusion_tag("polls/includes/poll_box.html", takes_context=True)
def poll_box(context, poll):
    """The "PsyWeb Poll" box for `poll`, as every reader sees it; nothing if there is no poll.

    What belongs to one visitor (their vote, live counts) is filled in by the poll island.
    """
    if poll is None:
        return {"poll": None}
    return {"poll": poll, "form": VoteForm(poll), "next_url": context["request"].get_full_path()}
