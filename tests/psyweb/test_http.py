"""The shared pages, the vote without JavaScript and the forgery refusals, over real HTTP.

pytest-django's live server answers on 127.0.0.1; requests are made with urllib, as any client
would, with nothing of Django's test client in between.
"""

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from http import HTTPStatus
from http.cookiejar import CookieJar

import pytest

from polls.models import Choice, Vote

pytestmark = pytest.mark.django_db(transaction=True)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    """A client with a cookie jar of its own that does not follow redirects."""
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), NoRedirects)


def fetch(opener, url, data=None, headers=None):
    """(status, headers, text) of one request; error statuses are answers too."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})  # noqa: S310 - http only
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


@pytest.fixture
def article(make_article, poll):
    return make_article(title="An article", slug="an-article", poll=poll)


@pytest.fixture
def site(live_server):
    return live_server.url


def test_the_article_page_is_the_same_cacheable_bytes_for_every_new_reader(site, article):
    first_status, first_headers, first = fetch(browser(), site + article.get_absolute_url())
    _, headers, second = fetch(browser(), site + article.get_absolute_url())

    assert first_status == HTTPStatus.OK
    assert first == second
    for response_headers in (first_headers, headers):
        assert response_headers.get_all("Set-Cookie") is None
        assert "Cookie" not in (response_headers["Vary"] or "")
        assert response_headers["Cache-Control"] == "public, max-age=0, s-maxage=1"
    assert "csrfmiddlewaretoken" not in first


def test_a_reader_without_javascript_votes_in_one_click_and_sees_the_results(site, article, poll):
    reader = browser()
    _, _, page = fetch(reader, site + article.get_absolute_url())
    action = re.search(r'<form class="poll-form" method="post" action="([^"]+)"', page)[1]
    next_url = re.search(r'name="next" value="([^"]+)"', page)[1]
    choice = re.findall(r'name="choice" value="(\d+)"', page)[1]

    status, headers, _ = fetch(
        reader,
        site + action,
        {"choice": choice, "next": next_url},
        {"Origin": site, "Sec-Fetch-Site": "same-origin"},
    )
    assert status == HTTPStatus.SEE_OTHER
    assert "psyweb_voter=" in headers["Set-Cookie"]
    assert "HttpOnly" in headers["Set-Cookie"]
    assert "SameSite=Lax" in headers["Set-Cookie"]

    status, headers, landing = fetch(reader, urllib.parse.urljoin(site, headers["Location"]))
    assert status == HTTPStatus.OK
    assert "no-store" in headers["Cache-Control"]
    assert "Thank you for voting." in landing
    assert "(your answer)" in landing
    assert f'href="{article.get_absolute_url()}#poll-{poll.slug}"' in landing
    assert Choice.objects.with_votes().get(pk=choice).votes == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://blog.127.0.0.1"},
    ],
)
def test_a_vote_sent_from_another_site_is_refused_and_counts_nothing(site, poll, headers):
    status, _, page = fetch(
        browser(), f"{site}/polls/{poll.slug}/vote/", {"choice": poll.choices.first().pk}, headers
    )

    assert status == HTTPStatus.FORBIDDEN
    assert "This form was sent from another website" in page
    assert not Vote.objects.exists()


def test_the_island_gets_a_token_then_votes_once_however_often_it_clicks(site, poll):
    reader = browser()
    same_origin = {"Origin": site, "Sec-Fetch-Site": "same-origin", "Accept": "application/json"}
    status, headers, body = fetch(reader, f"{site}/polls/{poll.slug}/state.json")
    assert status == HTTPStatus.OK
    assert "no-store" in headers["Cache-Control"]
    assert "psyweb_voter=" in headers["Set-Cookie"]
    assert json.loads(body)["voted"] is False

    answers = [
        fetch(
            reader,
            f"{site}/polls/{poll.slug}/vote/",
            {"choice": poll.choices.last().pk},
            same_origin,
        )
        for _ in range(3)
    ]

    assert [status for status, _, _ in answers] == [200, 409, 409]
    assert json.loads(answers[0][2])["own_choices"] == [poll.choices.last().pk]
    assert Vote.objects.count() == 1
