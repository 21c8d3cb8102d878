"""View decorators that say what a view accepts, used in the apps' urls.py and views."""

import modern_csrf.decorators
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe


def read_only(view):
    """A view that only reads: any other method gets 405 (the site's page), not a CSRF 403.

    This is the one way the site answers a write to a page that only reads. Exempting the view
    from the CSRF check is safe because it never acts on a POST.
    """
    return csrf_exempt(require_safe(view))


def same_origin_post(view):
    """Accept a POST without a CSRF token, but only when a browser sent it from this site.

    For forms on pages that every reader shares, which can hold no per-visitor token: the vote.
    django-modern-csrf checks what browsers send with every POST, as Go 1.25's
    CrossOriginProtection does: `Sec-Fetch-Site` must be same-origin (or none), or, from older
    browsers without it, `Origin` must be this site; a request with neither header comes from
    no browser, so it carries no victim's cookies. A refusal is a 403 (psyweb.views.csrf_failure)
    and the view never runs. See docs/polls.md.
    """
    return csrf_exempt(modern_csrf.decorators.csrf_protect(view))
