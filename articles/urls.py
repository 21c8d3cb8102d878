from django.urls import path

from psyweb.pagecache import shared_page

from . import feeds, views

app_name = "articles"

urlpatterns = [
    # Every page here is the same for every reader: kept by shared caches (psyweb/pagecache.py).
    path("", shared_page(views.ArticleListView.as_view()), name="index"),
    path("articles/<slug:slug>/", shared_page(views.ArticleDetailView.as_view()), name="detail"),
    path("topics/<slug:slug>/", shared_page(views.TopicArticleListView.as_view()), name="topic"),
    path("authors/<slug:slug>/", shared_page(views.AuthorArticleListView.as_view()), name="author"),
    path("legal/", shared_page(views.LegalStatementView.as_view()), name="legal"),
    path("search/", shared_page(views.SearchView.as_view()), name="search"),
    # Feeds: RSS at …/feed/, Atom at …/feed/atom/; the whole site's, a topic's, an author's.
    path("feed/", shared_page(feeds.LatestArticlesFeed()), name="feed"),
    path("feed/atom/", shared_page(feeds.LatestArticlesAtomFeed()), name="feed_atom"),
    path("topics/<slug:slug>/feed/", shared_page(feeds.TopicArticlesFeed()), name="topic_feed"),
    path(
        "topics/<slug:slug>/feed/atom/",
        shared_page(feeds.TopicArticlesAtomFeed()),
        name="topic_feed_atom",
    ),
    path("authors/<slug:slug>/feed/", shared_page(feeds.AuthorArticlesFeed()), name="author_feed"),
    path(
        "authors/<slug:slug>/feed/atom/",
        shared_page(feeds.AuthorArticlesAtomFeed()),
        name="author_feed_atom",
    ),
]
