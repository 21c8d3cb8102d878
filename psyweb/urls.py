from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from articles.sitemaps import ArticleSitemap, TopicSitemap

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
        {"sitemaps": {"articles": ArticleSitemap, "topics": TopicSitemap}},
        name="django.contrib.sitemaps.views.sitemap",
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
