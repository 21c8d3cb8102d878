from django.urls import path

from psyweb.pagecache import shared_page

from . import views
from .feeds import LatestArticlesFeed

app_name = "articles"

urlpatterns = [
    # Every page here is the same for every reader: kept by shared caches (psyweb/pagecache.py).
    path("", shared_page(views.ArticleListView.as_view()), name="index"),
    path("articles/<slug:slug>/", shared_page(views.ArticleDetailView.as_view()), name="detail"),
    path("topics/<slug:slug>/", shared_page(views.TopicArticleListView.as_view()), name="topic"),
    path("authors/<slug:slug>/", shared_page(views.AuthorArticleListView.as_view()), name="author"),
    path("legal/", shared_page(views.LegalStatementView.as_view()), name="legal"),
    path("feed/", shared_page(LatestArticlesFeed()), name="feed"),
]
