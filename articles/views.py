from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.safestring import mark_safe
from django.views.generic import DetailView, ListView

from polls.models import Poll

from .models import Article, Contributor, CrisisNotice, LegalStatement, Topic

# The longest search query answered; the rest is cut off.
SEARCH_QUERY_MAX_LENGTH = 200


class ArticleListView(ListView):
    """The home page: the latest published articles, newest first."""

    template_name = "articles/article_list.html"
    paginate_by = settings.ARTICLES_PER_PAGE

    def get_queryset(self):
        return Article.objects.published().for_listing()

    def get_context_data(self, **kwargs):
        return super().get_context_data(poll=Poll.objects.featured(), **kwargs)


class SearchView(ListView):
    """/search/?q=: published articles matching the words, best match first on PostgreSQL.

    Any query is answered with a page: empty, punctuation only, quotes, SQL or HTML. A query
    longer than SEARCH_QUERY_MAX_LENGTH characters is cut there.
    """

    template_name = "articles/search.html"
    paginate_by = settings.ARTICLES_PER_PAGE

    def get(self, request, *args, **kwargs):
        query = " ".join(request.GET.get("q", "").split())
        self.query = query[:SEARCH_QUERY_MAX_LENGTH].strip()
        self.query_was_cut = len(query) > SEARCH_QUERY_MAX_LENGTH
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if not self.query:
            return Article.objects.none()
        return Article.objects.published().for_listing().search(self.query)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(
            query=self.query, query_was_cut=self.query_was_cut, **kwargs
        )
        for article in context["article_list"]:
            # PostgreSQL's headlines: the text was HTML-escaped in the database before the
            # <mark> tags went around the matches (articles.models.escaped).
            if getattr(article, "summary_marked", None):
                article.summary_html = mark_safe(article.summary_marked)  # noqa: S308
            if getattr(article, "body_snippet", None):
                article.snippet_html = mark_safe(article.body_snippet)  # noqa: S308
        return context


class TopicArticleListView(ArticleListView):
    template_name = "articles/topic_detail.html"

    def get_queryset(self):
        self.topic = get_object_or_404(Topic, slug=self.kwargs["slug"])
        return super().get_queryset().filter(topic=self.topic)

    def get_context_data(self, **kwargs):
        return super().get_context_data(topic=self.topic, **kwargs)


class AuthorArticleListView(ArticleListView):
    """A contributor's profile, with the articles they wrote."""

    template_name = "articles/contributor_detail.html"

    def get_queryset(self):
        self.contributor = get_object_or_404(Contributor, slug=self.kwargs["slug"])
        return super().get_queryset().filter(author=self.contributor)

    def get_context_data(self, **kwargs):
        return super().get_context_data(contributor=self.contributor, **kwargs)


class ArticleDetailView(DetailView):
    """One article. Readers see published articles; editors also preview drafts and scheduled ones.

    Previews need the permission to change articles, as on djangoproject.com's weblog. Editors
    are signed in, so their pages are private and never cached (psyweb.pagecache).
    """

    def get_queryset(self):
        # The polls' choices are fetched with the polls the page shows (Article.page_polls).
        articles = Article.objects.select_related(
            "topic", "disclaimer", "poll", "author", "medical_reviewer"
        ).prefetch_related("references")
        if self.can_preview():
            return articles
        return articles.published()

    def can_preview(self):
        return self.request.user.has_perm("articles.change_article")

    def get_context_data(self, **kwargs):
        topic = self.object.topic
        crisis_notice = CrisisNotice.objects.first() if topic and topic.is_sensitive else None
        # Editors previewing also see where a poll placed in the body is not shown, and why.
        body_polls, poll = self.object.page_polls(scheduled_too=self.can_preview())
        return super().get_context_data(
            poll=poll,
            body_polls=body_polls,
            can_preview=self.can_preview(),
            crisis_notice=crisis_notice,
            **kwargs,
        )


class LegalStatementView(DetailView):
    template_name = "articles/legal_statement.html"
    context_object_name = "legal_statement"

    def get_object(self, queryset=None):
        return get_object_or_404(LegalStatement)
