"""One view, no middleware: every address answers with the bytes bench/pages.py saved.

What Django and gunicorn cost at the least for a page, to compare the real pages with.
"""

import os
from pathlib import Path

from django.http import HttpResponse
from django.urls import path

PAGE = Path(os.environ["BENCH_CEILING_PAGE"]).read_bytes()


def page(request, anything=""):
    return HttpResponse(PAGE, content_type="text/html; charset=utf-8")


urlpatterns = [path("", page), path("<path:anything>", page)]
