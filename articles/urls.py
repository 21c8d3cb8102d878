from django.urls import path

from psyweb.decorators import read_only

from . import views
from .feeds import LatestArticlesFeed

app_name = "articles"

urlpatterns = [
    path("", views.ArticleListView.as_view(), name="index"),
    path("articles/<slug:slug>/", views.ArticleDetailView.as_view(), name="detail"),
    path("topics/<slug:slug>/", views.TopicArticleListView.as_view(), name="topic"),
    path("legal/", views.LegalStatementView.as_view(), name="legal"),
    path("feed/", read_only(LatestArticlesFeed()), name="feed"),
]
