from django.urls import path

from psyweb.decorators import read_only, same_origin_post
from psyweb.pagecache import shared_page

from . import views

app_name = "polls"

urlpatterns = [
    # The same for every reader: kept by shared caches (psyweb/pagecache.py).
    path("", shared_page(views.PollListView.as_view()), name="index"),
    path("<slug:slug>/", shared_page(views.PollDetailView.as_view()), name="detail"),
    path("<slug:slug>/results/", shared_page(views.PollResultsView.as_view()), name="results"),
    path(
        "<slug:slug>/results.json",
        shared_page(views.PollResultsJSONView.as_view()),
        name="results_json",
    ),
    # One visitor's: never stored by a shared cache.
    path("<slug:slug>/vote/", same_origin_post(views.VoteView.as_view()), name="vote"),
    path("<slug:slug>/state.json", read_only(views.PollStateView.as_view()), name="state"),
    path("<slug:slug>/voted/", read_only(views.VotedView.as_view()), name="voted"),
]
