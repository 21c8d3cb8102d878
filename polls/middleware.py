from django.utils.cache import patch_cache_control

from . import voters


class VoterCookieMiddleware:
    """Send a newly issued voter token back to the browser (see voters.get_or_issue_token).

    Such a response belongs to one visitor, so no shared cache may keep it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        token = getattr(request, "issued_voter_token", None)
        if token is not None:
            voters.remember_voter(response, token)
            patch_cache_control(response, private=True)
        return response
