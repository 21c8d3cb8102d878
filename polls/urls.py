from django.urls import path

from . import views

app_name = "polls"

urlpatterns = [
    path("", views.PollListView.as_view(), name="index"),
    path("<slug:slug>/", views.PollDetailView.as_view(), name="detail"),
    path("<slug:slug>/vote/", views.VoteView.as_view(), name="vote"),
    path("<slug:slug>/results/", views.PollResultsView.as_view(), name="results"),
    path("<slug:slug>/results.json", views.PollResultsJSONView.as_view(), name="results_json"),
]
