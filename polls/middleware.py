from . import voters


class VoterCookieMiddleware:
    """Send a newly issued voter token back to the browser (see voters.get_or_issue_token)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        token = getattr(request, "issued_voter_token", None)
        if token is not None:
            voters.remember_voter(response, token)
        return response
