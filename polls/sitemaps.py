from django.contrib.sitemaps import Sitemap

from .models import Poll


class PollSitemap(Sitemap):
    """Polls that have opened, open or closed: the public archive. One scheduled is private."""

    changefreq = "daily"

    def items(self):
        return Poll.objects.started().only("slug")
