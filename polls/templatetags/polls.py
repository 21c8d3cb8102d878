from django import template

from polls.views import poll_context

register = template.Library()


@register.inclusion_tag("polls/includes/poll_box.html", takes_context=True)
def poll_box(context, poll):
    """The "PsyWeb Poll" box for `poll`, as this visitor should see it; nothing if no poll."""
    if poll is None:
        return {"poll": None}
    request = context["request"]
    return {
        **poll_context(request, poll, next_url=request.get_full_path()),
        "csrf_token": context.get("csrf_token"),  # for {% csrf_token %} in the box's form
    }
