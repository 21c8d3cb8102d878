"""A visitor of the site under gunicorn (tests.psyweb.test_timeouts.Gunicorn), with cookies."""

import json
from http import HTTPStatus
from http.cookies import SimpleCookie

SAME_ORIGIN_FORM = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Sec-Fetch-Site": "same-origin",
}


def set_cookies(headers):
    """{name: Morsel} of the cookies a response sets."""
    cookies = SimpleCookie()
    for header in headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    return dict(cookies)


class Visitor:
    """Keeps the cookies the site gives it and sends them back, as a browser does."""

    def __init__(self, site):
        self.site = site
        self.cookies = {}

    def request(self, method, path, *, body=None, headers=None):
        """(status, headers, body) after taking the cookies the response sets."""
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        headers = {**({"Cookie": cookie} if cookie else {}), **(headers or {})}
        status, response_headers, content, _ = self.site.request(
            method, path, body=body, headers=headers
        )
        for name, morsel in set_cookies(response_headers).items():
            self.cookies[name] = morsel.value
        return status, response_headers, content

    def state(self, slug):
        """The poll island's view of a poll: state.json, as JSON."""
        status, _, body = self.request("GET", f"/polls/{slug}/state.json")
        assert status == HTTPStatus.OK, body
        return json.loads(body)

    def vote(self, slug, choice_id):
        """Vote as the poll island does: (status, headers, JSON)."""
        status, headers, body = self.request(
            "POST",
            f"/polls/{slug}/vote/",
            body=f"choice={choice_id}",
            headers={**SAME_ORIGIN_FORM, "Accept": "application/json"},
        )
        return status, headers, json.loads(body)
