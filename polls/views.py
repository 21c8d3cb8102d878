from http import HTTPStatus
from urllib.parse import urlsplit

from django.contrib import messages
from django.db.models import Sum
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import DetailView, ListView

from . import services, voters
from .forms import VoteForm
from .models import Poll, Vote
from .ratelimit import AddressLimit


def has_voted(request, poll):
    key = voters.voter_key(request, poll)
    return key is not None and Vote.objects.filter(poll=poll, voter_key=key).exists()


def posted_from(request):
    """The page a vote was sent from (the form's `next`), if it is a page of this site."""
    url = request.POST.get("next", "").split("#")[0]
    if "\x00" in url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    try:
        if resolve(urlsplit(url).path).view_name == "polls:vote":
            return None  # it only takes POSTs; landing there would be a 405
    except Resolver404:
        pass
    return url


def return_url(request, poll):
    """Where a voter lands after voting: back at the poll box of the page they voted on."""
    url = posted_from(request) or reverse("polls:results", args=[poll.slug])
    return f"{url}#poll-{poll.slug}"


def just_voted(request, poll):
    """Whether this response follows the visitor's vote in `poll` (a one-time message)."""
    tag = f"voted-{poll.pk}"
    return any(message.extra_tags == tag for message in messages.get_messages(request))


def poll_context(request, poll, *, form=None, next_url=None, message=None):
    """What every view of a poll shows one visitor: the form, or the results, or both."""
    voted = has_voted(request, poll)
    is_open = poll.is_open()
    if not voted and is_open and not request.user.is_authenticated:
        voters.get_or_issue_token(request)
    return {
        "poll": poll,
        "form": form or VoteForm(poll),
        "next_url": next_url or posted_from(request) or poll.get_absolute_url(),
        "voted": voted,
        "just_voted": voted and just_voted(request, poll),
        "is_open": is_open,
        "results_visible": poll.results_visible_to(voted),
        "message": message,
    }


class PollListView(ListView):
    """The archive: every poll that has opened, open or closed, newest first."""

    template_name = "polls/poll_list.html"
    paginate_by = 20

    def get_queryset(self):
        return (
            Poll.objects.started()
            .annotate(vote_total=Sum("choices__votes"))
            .order_by("-opens_at", "-pk")
        )


def visible_polls(request):
    """Polls a visitor may look at: those that have opened; staff also see scheduled ones."""
    polls = Poll.objects.with_choices()
    return polls if request.user.is_staff else polls.started()


class PollDetailView(DetailView):
    def get_queryset(self):
        return visible_polls(self.request)

    def get_context_data(self, **kwargs):
        return poll_context(self.request, self.object)


class PollResultsView(PollDetailView):
    template_name = "polls/poll_results.html"


class VoteView(View):
    """Count one ballot from the form, then send the voter back to the page they voted on."""

    def post(self, request, slug):
        poll = get_object_or_404(Poll.objects.with_choices(), slug=slug)
        form = VoteForm(poll, request.POST)
        if not poll.is_open():  # whatever was sent; record_vote checks this again
            closed = services.PollClosed() if poll.has_opened() else services.PollNotOpen()
            return self.refuse(request, poll, form, closed)
        if not form.is_valid():
            context = poll_context(request, poll, form=form)
            return render(request, "polls/poll_detail.html", context, status=HTTPStatus.BAD_REQUEST)

        token = voters.get_or_issue_token(request)
        if has_voted(request, poll):  # before the limit, so a repeat is told why, not 429
            return self.refuse(request, poll, form, services.AlreadyVoted())
        limit = AddressLimit(request, poll)
        if not limit.reserve():
            response = render(
                request,
                "polls/too_many_votes.html",
                {"poll": poll},
                status=HTTPStatus.TOO_MANY_REQUESTS,
            )
            response["Retry-After"] = str(limit.retry_after)
            return response
        try:
            services.record_vote(
                poll=poll,
                choice_id=form.cleaned_data["choice"],
                voter_key=voters.voter_key(request, poll, token),
            )
        except services.VoteRejected as rejection:
            limit.release()
            return self.refuse(request, poll, form, rejection)
        except Exception:
            limit.release()  # e.g. the database went away: the vote was not counted
            raise
        messages.success(request, "Thank you for voting.", extra_tags=f"voted-{poll.pk}")
        return redirect(return_url(request, poll))

    def refuse(self, request, poll, form, rejection):
        template, status = REJECTION_PAGES[type(rejection)]
        context = poll_context(request, poll, form=form, message=rejection.message)
        return render(request, template, context, status=status)


# What a refused ballot is answered with: the page, and the status code.
REJECTION_PAGES = {
    services.AlreadyVoted: ("polls/poll_results.html", HTTPStatus.CONFLICT),
    services.InvalidChoice: ("polls/poll_detail.html", HTTPStatus.BAD_REQUEST),
    # Shows nothing of the poll: a poll not open yet is not public.
    services.PollNotOpen: ("polls/not_open.html", HTTPStatus.FORBIDDEN),
    services.PollClosed: ("polls/poll_detail.html", HTTPStatus.FORBIDDEN),
}


class PollResultsJSONView(View):
    """The results as JSON. Where they are not visible yet, only the total is given."""

    def get(self, request, slug):
        poll = visible_polls(request).filter(slug=slug).first()
        if poll is None:
            return JsonResponse({"error": "There is no poll at this address."}, status=404)
        visible = poll.results_visible_to(has_voted(request, poll))
        choices = [
            {
                "id": choice.pk,
                "text": choice.text,
                "votes": choice.votes if visible else None,
                "percent": percent if visible else None,
            }
            for choice, percent in poll.results()
        ]
        return JsonResponse(
            {
                "question": poll.question,
                "total_votes": poll.total_votes,
                "is_open": poll.is_open(),
                "results_visible": visible,
                "choices": choices,
            },
            json_dumps_params={"ensure_ascii": False},
        )
