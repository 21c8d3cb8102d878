from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path
from django.views.generic import TemplateView

from articles.sitemaps import ArticleSitemap, AuthorSitemap, TopicSitemap
from polls.sitemaps import PollSitemap

from . import health, views
from .decorators import read_only
from .pagecache import shared_page

admin.site.site_header = "PsyWeb administration"
admin.site.site_title = "PsyWeb admin"

urlpatterns = [
    path("favicon.ico", read_only(views.favicon), name="favicon"),
    # For load balancers and monitors: 200 or 503, never cached (psyweb/health.py).
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("polls/", include("polls.urls")),
    path(
        "sitemap.xml",
        shared_page(sitemap),
        {
            "sitemaps": {
                "articles": ArticleSitemap,
                "topics": TopicSitemap,
                "authors": AuthorSitemap,
                "polls": PollSitemap,
            }
        },
        name="django.contrib.sitemaps.views.sitemap",
    ),
    # For crawlers: where the sitemap is, and the addresses that are one visitor's own.
    path(
        "robots.txt",
        shared_page(TemplateView.as_view(template_name="robots.txt", content_type="text/plain")),
        name="robots_txt",
    ),
    # What the site stores about readers; the same page for everyone.
    path("privacy/", shared_page(views.privacy), name="privacy"),
    path("", include("articles.urls")),
]

handler400 = "psyweb.views.bad_request"
handler403 = "psyweb.views.permission_denied"
handler404 = "psyweb.views.page_not_found"
handler500 = "psyweb.views.server_error"

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
