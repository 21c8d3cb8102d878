"""The privacy page says what the site stores about readers, in the code's own names and figures.

Each figure is read from the setting or constant the code uses, so changing one changes the
page; each claim is checked against what the site really does (the cookies a reader can get,
the fields a ballot has, the servers' log settings, the pages' Content-Security-Policy).
"""

import datetime
import re
import runpy
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags
from pytest_django.asserts import assertContains

from polls import ratelimit, voters
from polls.models import AddressVoteCount, Poll, PollDay, Selection, Vote
from psyweb import routers

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DAY = 24 * 60 * 60
JSON = {"Accept": "application/json"}


def privacy_page(client=None):
    response = (client or Client()).get(reverse("privacy"))
    assert response.status_code == HTTPStatus.OK
    return response


def page_text(response):
    """What a reader reads: the page's text, with its whitespace collapsed."""
    return " ".join(strip_tags(response.text).split())


@pytest.fixture
def demo(db):
    call_command("load_demo", verbosity=0)
    return Poll.objects.get(slug="antidepressants")


def cookie_names(*responses):
    return {name for response in responses for name in response.cookies}


# The page itself


def test_the_privacy_page_is_a_shared_page_that_sets_no_cookie(django_assert_num_queries):
    with django_assert_num_queries(1):  # the header's topics
        response = privacy_page()
    assert not response.cookies
    directives = {d.strip() for d in response["Cache-Control"].split(",")}
    assert "public" in directives
    assert any(d.startswith("s-maxage=") for d in directives)
    assert "<h1" in response.text
    assert "Privacy</h1>" in response.text


def test_every_page_links_to_the_privacy_page_from_the_main_and_footer_navigation(client):
    response = client.get(reverse("articles:index"))
    link = f'<a href="{reverse("privacy")}">Privacy</a>'
    assertContains(response, link, count=2, html=True)


# The cookies a reader can get


def test_the_page_names_every_cookie_a_reader_can_get(demo):
    choice = demo.choices.first().pk
    vote = reverse("polls:vote", args=[demo.slug])
    reader_pages = [
        reverse("articles:index"),
        reverse("articles:detail", args=["rejection-while-depressed"]),
        reverse("articles:topic", args=["depression"]),
        reverse("articles:legal"),
        reverse("articles:feed"),
        reverse("privacy"),
        reverse("polls:index"),
        demo.get_absolute_url(),
        reverse("polls:results", args=[demo.slug]),
        reverse("polls:results_json", args=[demo.slug]),
        "/sitemap.xml",
        "/no-such-page/",
    ]
    reader = Client()
    pages = [reader.get(path) for path in reader_pages]
    assert cookie_names(*pages) == set()  # reading sets none
    voter = Client()
    given = cookie_names(
        # the island's first touch, then its vote, and a second vote refused
        Client().get(reverse("polls:state", args=[demo.slug])),
        Client().post(vote, {"choice": choice}, headers=JSON),
        # without JavaScript: a vote, the page it lands on, a form sent without an answer
        voter.post(vote, {"choice": choice}),
        voter.get(reverse("polls:voted", args=[demo.slug])),
        voter.post(vote, {"choice": choice}),
        Client().post(vote, {}),
    )
    assert given == {voters.COOKIE_NAME}  # a new one? The privacy page must say so.

    response = privacy_page()
    for name in given:
        assert f"<code>{name}</code>" in response.text
    assert f"One cookie, {voters.COOKIE_NAME}, and only if you use a poll." in page_text(response)


def test_the_page_names_the_cookies_of_the_staff_sign_in(admin_user):
    staff = Client()
    given = cookie_names(
        staff.get(reverse("admin:login")),
        staff.post(reverse("admin:login"), {"username": "admin", "password": "password"}),
    )
    assert django_settings.SESSION_COOKIE_NAME in given  # signed in
    text = privacy_page().text
    for name in given:
        assert f"<code>{name}</code>" in text


# The voter cookie


@pytest.mark.parametrize("secure", [True, False])
def test_the_page_describes_the_voter_cookie_as_a_vote_sets_it(demo, settings, secure):
    settings.SESSION_COOKIE_SECURE = secure
    response = Client().post(
        reverse("polls:vote", args=[demo.slug]), {"choice": demo.choices.first().pk}
    )
    cookie = response.cookies[voters.COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert bool(cookie["secure"]) is secure
    days = int(cookie["max-age"]) / DAY

    text = page_text(privacy_page())
    assert f"a cookie named {voters.COOKIE_NAME}. It holds a random token and nothing else" in text
    assert "It is signed, so that it cannot be forged; HttpOnly" in text
    assert "SameSite=Lax" in text
    assert ("Secure, so that it is only ever sent over HTTPS" in text) is secure
    assert f"It expires {days:g} days after it was set." in text


def test_the_cookie_lifetime_on_the_page_follows_the_code(monkeypatch):
    monkeypatch.setattr(voters, "COOKIE_MAX_AGE", 30 * DAY)
    assert "It expires 30 days after it was set." in page_text(privacy_page())


# The ballot and the vote limit


def test_the_page_lists_everything_a_ballot_holds():
    assert {field.name for field in Vote._meta.concrete_fields} == {
        "id",  # a random id
        "poll",
        "voter_key",  # the keyed hash
    }
    # Its answers, one row each (several in a "check all that apply" poll).
    assert {field.name for field in Selection._meta.concrete_fields} == {"id", "vote", "choice"}
    assert Vote._meta.get_field("id").default.__name__ == "uuid4"
    text = page_text(privacy_page())
    assert (
        "a ballot that holds the poll, your answer (or answers, where a poll lets you choose "
        "several), a random id, and a keyed hash "
        "(HMAC-SHA256, under a secret kept on the server) of the poll together with your "
        "browser's token, or, for signed-in staff, with their account. "
        "It holds no IP address, no name and no time."
    ) in text


def test_the_page_states_the_daily_count_holds_no_answer():
    # A poll's ballots per day: the poll, the day and a number, nothing of any answer.
    assert {field.name for field in PollDay._meta.concrete_fields} == {
        "id",
        "poll",
        "date",
        "ballots",
    }
    text = page_text(privacy_page())
    assert "counts how many ballots it took each day" in text
    assert "That count says nothing of what anyone answered." in text


@pytest.mark.parametrize("limit", [django_settings.POLL_IP_VOTE_LIMIT, 1, 7])
def test_the_page_states_the_vote_limit_in_force(settings, limit):
    assert {field.name for field in AddressVoteCount._meta.concrete_fields} == {
        "id",
        "poll",
        "hour",
        "address_key",  # the keyed hash, never the address
        "votes",
    }
    settings.POLL_IP_VOTE_LIMIT = limit
    minutes = ratelimit.WINDOW_SECONDS / 60
    text = page_text(privacy_page())
    assert (
        f"a poll accepts at most {limit} votes from one internet address in each "
        f"{minutes:g}-minute period (for IPv6, from one /{ratelimit.IPV6_PREFIX} network)"
    ) in text
    assert "never under the address itself" in text
    assert "the counts of a period that is over are deleted as new votes come in" in text


def test_the_vote_window_on_the_page_follows_the_code(monkeypatch):
    monkeypatch.setattr(ratelimit, "WINDOW_SECONDS", 30 * 60)
    assert "in each 30-minute period" in page_text(privacy_page())


def test_with_the_vote_limit_off_the_page_says_no_count_is_kept(settings):
    settings.POLL_IP_VOTE_LIMIT = 0
    text = page_text(privacy_page())
    assert "The site sets no limit on votes from one address at present" in text
    assert "at most 0 votes" not in text


def test_the_page_names_the_marker_the_poll_island_keeps():
    script = (ROOT / "static/js/polls.js").read_text()
    marker = re.search(r'var MARKER = "([^"]+)";', script)[1]
    text = page_text(privacy_page())
    assert f"under {marker}: the ids of the polls you have voted in, never your answers" in text
    assert "never sent to the server" in text


# Staff sign-in


@pytest.mark.parametrize(
    ("failures", "cooloff", "shown"),
    [
        (django_settings.AXES_FAILURE_LIMIT, django_settings.AXES_COOLOFF_TIME, None),
        (3, datetime.timedelta(minutes=30), "30"),
        (10, datetime.timedelta(seconds=90), "1.5"),
    ],
)
def test_the_page_states_the_sign_in_throttle_in_force(settings, failures, cooloff, shown):
    settings.AXES_FAILURE_LIMIT = failures
    settings.AXES_COOLOFF_TIME = cooloff
    shown = shown or f"{cooloff.total_seconds() / 60:g}"
    text = page_text(privacy_page())
    assert (
        f"after {failures} failed sign-ins from one address or to one account, sign-ins are "
        f"refused for {shown} minutes"
    ) in text
    assert f"each count expires {shown} minutes after the last failure" in text
    assert "counted only in the site's cache, under hashed keys" in text
    # which is where axes keeps them, with no database rows and no access log
    assert settings.AXES_HANDLER == "axes.handlers.cache.AxesCacheHandler"
    assert settings.AXES_DISABLE_ACCESS_LOG is True


# Logs and third parties


def test_the_page_says_no_access_log_is_kept_as_the_servers_are_configured():
    nginx = (ROOT / "deploy/nginx.conf").read_text()
    directives = [line.split("#")[0].strip() for line in nginx.splitlines()]
    assert "access_log off;" in directives
    assert "error_log stderr error;" in directives  # failures only
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["accesslog"] is None

    text = page_text(privacy_page())
    assert "(nginx) and the application server (gunicorn) keep no access log" in text
    assert "Nothing is logged for requests that succeed." in text


class _Resources(HTMLParser):
    """Every address the page makes the browser load: scripts, styles, icons, images."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("rel") in ("stylesheet", "icon", "preload"):
            self.urls.append(attrs["href"])


def test_the_page_says_there_are_no_trackers_and_loads_nothing_from_elsewhere():
    response = privacy_page()
    text = page_text(response)
    assert "No analytics, no trackers, no advertising, and nothing loaded from other sites." in text
    assert "no third-party services" in text

    resources = _Resources()
    resources.feed(response.text)
    assert resources.urls
    assert all(url.startswith("/") and not url.startswith("//") for url in resources.urls)
    header = response["Content-Security-Policy"]
    policy = dict(directive.strip().split(" ", 1) for directive in header.split(";"))
    for directive in ("default-src", "script-src", "style-src", "img-src"):
        assert set(policy[directive].split()) <= {"'self'", "data:"}, directive


@pytest.mark.parametrize(("policy", "hidden"), [("same-origin", True), ("origin", False)])
def test_the_page_says_other_sites_are_not_told_the_page_only_when_true(settings, policy, hidden):
    settings.SECURE_REFERRER_POLICY = policy
    response = privacy_page()
    assert response["Referrer-Policy"] == policy
    said = "your browser does not tell that site which PsyWeb page you came from"
    assert (said in page_text(response)) is hidden


def test_the_replica_cookie_is_listed_only_where_the_site_sets_it(settings):
    settings.DATABASE_REPLICAS = {}
    assert routers.COOKIE_NAME not in page_text(privacy_page())
    for cache in caches.all():  # the page is a shared one, kept for half a second
        cache.clear()
    settings.DATABASE_REPLICAS = {"replica_1": "psyweb"}
    settings.DATABASE_PRIMARY_STICKY_SECONDS = 5
    text = page_text(privacy_page())
    assert f"a cookie named {routers.COOKIE_NAME} for 5 seconds. It holds only the figure 1" in text
