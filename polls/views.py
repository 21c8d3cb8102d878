"""Poll pages, and the vote.

The pages are the same for every reader (psyweb.pagecache.shared_page, applied in urls.py);
what belongs to one visitor (their ballot, "thank you", live counts) comes from the vote itself,
from `PollStateView` (read by the poll island, static/js/polls.js) and from `VotedView`.
"""

from http import HTTPStatus
from urllib.parse import urlencode, urlsplit

from django.db.models import prefetch_related_objects
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView

from psyweb.routers import primary

from . import services, voters
from .forms import VoteForm
from .models import Poll, choices_with_votes
from .ratelimit import AddressLimit
from .results import results_data, voter_state


def page_to_return_to(request, url):
    """`url` if it is a page of this site a reader can go back to, else None."""
    url = (url or "").split("#")[0]
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


def visible_polls(request):
    """Polls a visitor may look at: those that have opened; staff also see scheduled ones."""
    polls = Poll.objects.with_choices()
    return polls if request.user.is_staff else polls.started()


class PollListView(ListView):
    """The archive: every poll that has opened, open or closed, newest first."""

    template_name = "polls/poll_list.html"
    paginate_by = 20

    def get_queryset(self):
        return (
            Poll.objects.started()
            .with_choices()  # a closed poll shows its final results
            .with_voter_totals()
            .order_by("-opens_at", "-pk")
        )


class PollDetailView(DetailView):
    """The poll's own page: its form while it is open, its public results."""

    def get_queryset(self):
        return visible_polls(self.request)

    def get_context_data(self, **kwargs):
        return super().get_context_data(form=VoteForm(self.object), **kwargs)


class PollResultsView(PollDetailView):
    template_name = "polls/poll_results.html"


class PollResultsJSONView(View):
    """The public results as JSON. Where they are not public yet, only the total is given."""

    def get(self, request, slug):
        poll = visible_polls(request).filter(slug=slug).first()
        if poll is None:
            return JsonResponse({"error": "There is no poll at this address."}, status=404)
        data = results_data(poll, visible=poll.results_are_public())
        return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


@method_decorator(never_cache, name="dispatch")
class PollStateView(View):
    """One visitor's view of a poll, for the poll island: their answer and the live results.

    A visitor who has no voter token yet is given one here while the poll is open, so the
    vote that follows (and any repeated click) carries it.
    """

    def get(self, request, slug):
        poll = visible_polls(request).filter(slug=slug).first()
        if poll is None:
            return JsonResponse({"error": "There is no poll at this address."}, status=404)
        token = voters.voter_token(request)
        issue = token is None and poll.is_open() and not request.user.is_authenticated
        if issue:
            token = voters.new_voter_token()
        data = voter_state(poll, voters.ballot_of(request, poll, token))
        response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
        if issue:
            voters.remember_voter(response, token)
        return response


@method_decorator(never_cache, name="dispatch")
class VotedView(View):
    """Where a vote sent without JavaScript lands: thanks, the results, the way back."""

    def get(self, request, slug):
        poll = get_object_or_404(visible_polls(request), slug=slug)
        ballot = voters.ballot_of(request, poll)
        if ballot is None:
            return redirect(poll)
        context = {
            "poll": poll,
            "ballot": ballot,
            "results_visible": poll.results_visible_to(has_voted=True),
            "back_url": page_to_return_to(request, request.GET.get("next")),
        }
        return render(request, "polls/voted.html", context)


class InvalidVoteForm(services.VoteRejected):
    """The form was not filled in as it should be; the message is the form's."""


# What a refused ballot is answered with: the page and the status code.
REJECTIONS = {
    services.AlreadyVoted: ("polls/voted.html", HTTPStatus.CONFLICT),
    services.InvalidChoice: ("polls/poll_detail.html", HTTPStatus.BAD_REQUEST),
    services.TooManyChoices: ("polls/poll_detail.html", HTTPStatus.BAD_REQUEST),
    InvalidVoteForm: ("polls/poll_detail.html", HTTPStatus.BAD_REQUEST),
    # Shows nothing of the poll: a poll not open yet is not public.
    services.PollNotOpen: ("polls/not_open.html", HTTPStatus.FORBIDDEN),
    services.PollClosed: ("polls/poll_detail.html", HTTPStatus.FORBIDDEN),
}


@method_decorator(never_cache, name="dispatch")
class VoteView(View):
    """Count one ballot from the poll form.

    Without JavaScript the voter is sent on (303) to their results, with a link back to the
    page they voted on. The poll island sends `Accept: application/json` and gets JSON.
    Cross-site forgery is refused by `same_origin_post` (urls.py): the form sits on pages that
    every reader shares, so it carries no per-visitor token.
    """

    http_method_names = ["post"]

    def post(self, request, slug):
        poll = get_object_or_404(Poll.objects.with_choices(), slug=slug)
        form = VoteForm(poll, request.POST)
        token = voters.voter_token(request)
        issued = None
        if token is None and not request.user.is_authenticated:
            token = issued = voters.new_voter_token()
        try:
            ballot = self.vote(request, poll, form, token, new_voter=issued is not None)
        except services.VoteRejected as rejection:
            response = self.refuse(request, poll, form, token, rejection)
        except AddressLimit.Exceeded as exceeded:
            response = self.too_many(request, poll, exceeded.retry_after)
        else:
            response = self.accepted(request, poll, ballot)
        if issued:
            voters.remember_voter(response, issued)
        return response

    @staticmethod
    @primary()  # "has this visitor voted?" is asked of the primary, never of a lagging replica
    def vote(request, poll, form, token, *, new_voter):
        """Count the ballot and return it, or raise why not."""
        if not poll.is_open():  # whatever was sent; record_vote checks this again
            raise services.PollClosed if poll.has_opened() else services.PollNotOpen
        # Before the limit, so a repeat is told why. (A token made just now has no ballot.)
        if not new_voter and voters.ballot_of(request, poll, token):
            raise services.AlreadyVoted
        if not form.is_valid():
            raise InvalidVoteForm(form.errors["choice"][0])
        with AddressLimit(request, poll).reserve():
            return services.record_vote(
                poll=poll,
                choice_ids=form.choice_ids,
                voter_key=voters.voter_key(request, poll, token),
            )

    def accepted(self, request, poll, ballot):
        if wants_json(request):
            state = voter_state(poll_with_counts(poll), ballot)
            return JsonResponse({"message": "Thank you for voting.", **state})
        query = {}
        if back := page_to_return_to(request, request.POST.get("next")):
            query["next"] = back
        url = reverse("polls:voted", args=[poll.slug])
        url = f"{url}?{urlencode(query)}" if query else url
        return HttpResponseRedirect(url, status=HTTPStatus.SEE_OTHER)  # see the results, by GET

    def refuse(self, request, poll, form, token, rejection):
        template, status = REJECTIONS[type(rejection)]
        ballot = voters.ballot_of(request, poll, token)
        back_url = page_to_return_to(request, request.POST.get("next"))
        if wants_json(request):
            state = voter_state(poll_with_counts(poll), ballot) if poll.has_opened() else {}
            return JsonResponse({"error": rejection.message, **state}, status=status)
        context = {
            "poll": poll,
            "form": form,
            "ballot": ballot,
            "results_visible": poll.results_visible_to(has_voted=ballot is not None),
            # A form error is shown by the form itself, beside the answers.
            "message": None if isinstance(rejection, InvalidVoteForm) else rejection.message,
            "back_url": back_url,
            "next_url": back_url,  # the form shown again still returns the reader there
        }
        return render(request, template, context, status=status)

    @staticmethod
    def too_many(request, poll, retry_after):
        if wants_json(request):
            message = "Too many votes have come from your connection. Please try again later."
            response = JsonResponse({"error": message}, status=HTTPStatus.TOO_MANY_REQUESTS)
        else:
            response = render(
                request,
                "polls/too_many_votes.html",
                {"poll": poll},
                status=HTTPStatus.TOO_MANY_REQUESTS,
            )
        response["Retry-After"] = str(retry_after)
        return response


def wants_json(request):
    return request.headers.get("Accept") == "application/json"


def poll_with_counts(poll):
    """The poll with its choices' counts read again (one query), so a voter sees their vote."""
    poll._prefetched_objects_cache.pop("choices", None)  # the counts read before the vote
    poll.__dict__.pop("total_votes", None)
    prefetch_related_objects([poll], choices_with_votes())
    return poll
