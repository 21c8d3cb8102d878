"""Cross-site request forgery: the vote takes no CSRF token, so it is refused from other sites.

The poll form sits on pages every reader shares, so it cannot carry a per-visitor token. The
vote is accepted only when the browser says it was sent from a page of this site
(`Sec-Fetch-Site`, or else `Origin`), or when no browser sent it (neither header): see
psyweb.decorators.same_origin_post. Everything else on the site (the admin) keeps Django's
token check.
"""

import json
import os
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from polls.models import Vote
from polls.voters import COOKIE_NAME

pytestmark = pytest.mark.django_db


BASE_DIR = Path(__file__).resolve().parents[2]
# The test client's requests are for http://testserver.
THIS_SITE = "http://testserver"
JSON = {"Accept": "application/json"}
REFUSAL = "This form was sent from another website"

FROM_ANOTHER_SITE = [
    pytest.param({"Origin": "https://evil.example"}, id="origin-of-another-site"),
    pytest.param({"Origin": "null"}, id="origin-null"),
    pytest.param({"Origin": "http://testserver.evil.example"}, id="origin-lookalike-host"),
    pytest.param({"Origin": "http://testserver:8080"}, id="origin-on-another-port"),
    pytest.param({"Origin": "http://sub.testserver"}, id="origin-of-a-subdomain"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="sec-fetch-site-cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, id="sec-fetch-site-same-site"),
    pytest.param(
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        id="cross-site-with-its-origin",
    ),
    pytest.param(
        {"Sec-Fetch-Site": "same-site", "Origin": "https://www.testserver"},
        id="sibling-subdomain-not-trusted",
    ),
]

FROM_THIS_SITE = [
    pytest.param({"Sec-Fetch-Site": "same-origin", "Origin": THIS_SITE}, id="same-origin"),
    pytest.param({"Sec-Fetch-Site": "same-origin"}, id="sec-fetch-site-same-origin"),
    pytest.param({"Sec-Fetch-Site": "none"}, id="sec-fetch-site-none"),
    pytest.param({"Origin": THIS_SITE}, id="origin-of-this-site-older-browser"),
    pytest.param({}, id="no-browser-headers"),
]


@pytest.fixture
def client():
    """A browser whose forms are checked as a real one's: the test client skips the checks."""
    return Client(enforce_csrf_checks=True)


def vote_url(poll):
    return reverse("polls:vote", args=[poll.slug])


def counts(poll):
    return list(poll.choices.with_votes().values_list("votes", flat=True))


@pytest.mark.parametrize("headers", FROM_ANOTHER_SITE)
def test_a_vote_sent_from_another_site_is_refused_and_nothing_is_counted(client, poll, headers):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk}, headers=headers)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "403_cross_site.html" in [t.name for t in response.templates]
    assert REFUSAL in response.text
    assert "no vote was counted" in response.text
    assert COOKIE_NAME not in response.cookies  # the vote view never ran
    assert not Vote.objects.exists()
    assert counts(poll) == [0, 0, 0]


@pytest.mark.parametrize("headers", FROM_ANOTHER_SITE)
def test_a_vote_sent_by_a_script_on_another_site_is_refused(client, poll, headers):
    response = client.post(
        vote_url(poll), {"choice": poll.choices.first().pk}, headers={**JSON, **headers}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Vote.objects.exists()


def test_a_forged_vote_is_refused_even_for_a_visitor_holding_a_token(client, poll):
    client.get(reverse("polls:state", args=[poll.slug]))
    assert COOKIE_NAME in client.cookies
    response = client.post(
        vote_url(poll),
        {"choice": poll.choices.first().pk},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Vote.objects.exists()
    # Their own vote, from the site, is still theirs to cast.
    response = client.post(
        vote_url(poll),
        {"choice": poll.choices.first().pk},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert counts(poll) == [1, 0, 0]


def test_a_vote_without_browser_headers_is_counted_even_with_checks_enforced(client, poll):
    assert client.post(vote_url(poll), {"choice": poll.choices.first().pk}).status_code == (
        HTTPStatus.SEE_OTHER
    )
    assert counts(poll) == [1, 0, 0]


def test_a_forged_vote_is_refused_for_a_signed_in_user(client, poll, admin_user):
    client.force_login(admin_user)
    response = client.post(
        vote_url(poll),
        {"choice": poll.choices.first().pk},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Vote.objects.exists()


def test_the_refusal_comes_before_anything_else_is_looked_at(client):
    response = client.post(
        reverse("polls:vote", args=["no-such-poll"]),
        {"choice": 1},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert REFUSAL in response.text


@pytest.mark.parametrize("headers", FROM_THIS_SITE)
def test_a_vote_sent_from_this_site_without_javascript_is_counted(client, poll, headers):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk}, headers=headers)
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert response["Location"].startswith(reverse("polls:voted", args=[poll.slug]))
    assert counts(poll) == [1, 0, 0]


@pytest.mark.parametrize("headers", FROM_THIS_SITE)
def test_a_vote_sent_from_this_site_by_the_poll_island_is_counted(client, poll, headers):
    client.get(reverse("polls:state", args=[poll.slug]))
    response = client.post(
        vote_url(poll), {"choice": poll.choices.first().pk}, headers={**JSON, **headers}
    )
    assert response.status_code == HTTPStatus.OK
    assert response.json()["message"] == "Thank you for voting."
    assert counts(poll) == [1, 0, 0]


# CSRF_TRUSTED_ORIGINS is read once, when the site starts, so it is tested in a site started
# with it set: a fresh process on its own in-memory database and cache.
TRUSTED_ORIGINS_SITE = """
import json, sys
import django
django.setup()
from django.conf import settings
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from polls.models import Poll, Vote
setup_test_environment()
call_command("migrate", verbosity=0)
poll = Poll.objects.create(question="Trusted?", slug="trusted")
choice = poll.choices.create(text="Yes", order=1)
poll.choices.create(text="No", order=2)
statuses = {}
for name, headers in json.loads(sys.argv[1]).items():
    response = Client(enforce_csrf_checks=True).post(
        "/polls/trusted/vote/", {"choice": choice.pk}, headers=headers
    )
    statuses[name] = response.status_code
print(json.dumps({"statuses": statuses, "votes": Vote.objects.count()}))
"""


def votes_in_a_site_that_trusts(trusted_origins, requests):
    environment = {
        **os.environ,
        "CSRF_TRUSTED_ORIGINS": ",".join(trusted_origins),
        "DATABASE_URL": "sqlite://:memory:",
        "CACHE_URL": "locmemcache://",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", TRUSTED_ORIGINS_SITE, json.dumps(requests)],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_votes_from_trusted_origins_are_counted_and_others_refused():
    answer = votes_in_a_site_that_trusts(
        ["https://www.psyweb.example", "https://partner.example"],
        {
            "trusted, older browser": {"Origin": "https://www.psyweb.example"},
            "trusted sibling subdomain": {
                "Origin": "https://www.psyweb.example",
                "Sec-Fetch-Site": "same-site",
            },
            "trusted other site": {
                "Origin": "https://partner.example",
                "Sec-Fetch-Site": "cross-site",
            },
            "lookalike": {"Origin": "https://www.psyweb.example.evil.example"},
            "lookalike, current browser": {
                "Origin": "https://www.psyweb.example.evil.example",
                "Sec-Fetch-Site": "cross-site",
            },
            "trusted host, not its scheme": {"Origin": "http://www.psyweb.example"},
            "untrusted": {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            "untrusted sibling": {
                "Origin": "https://m.psyweb.example",
                "Sec-Fetch-Site": "same-site",
            },
        },
    )
    assert answer["statuses"] == {
        "trusted, older browser": HTTPStatus.SEE_OTHER,
        "trusted sibling subdomain": HTTPStatus.SEE_OTHER,
        "trusted other site": HTTPStatus.SEE_OTHER,
        "lookalike": HTTPStatus.FORBIDDEN,
        "lookalike, current browser": HTTPStatus.FORBIDDEN,
        "trusted host, not its scheme": HTTPStatus.FORBIDDEN,
        "untrusted": HTTPStatus.FORBIDDEN,
        "untrusted sibling": HTTPStatus.FORBIDDEN,
    }
    assert answer["votes"] == 3


def test_a_cross_site_request_of_another_method_is_refused_before_the_405(client, poll):
    response = client.put(vote_url(poll), headers={"Origin": "https://evil.example"})
    assert response.status_code == HTTPStatus.FORBIDDEN


# Everywhere else, Django's token check still holds.


def test_the_admin_login_still_needs_djangos_csrf_token(admin_user):
    browser = Client(enforce_csrf_checks=True)
    credentials = {"username": admin_user.username, "password": "password"}
    for headers in ({}, {"Sec-Fetch-Site": "same-origin", "Origin": THIS_SITE}):
        response = browser.post(reverse("admin:login"), credentials, headers=headers)
        assert response.status_code == HTTPStatus.FORBIDDEN, headers
        assert "_auth_user_id" not in browser.session


def test_the_admin_login_with_its_token_is_accepted(admin_user):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(reverse("admin:login"))
    token = page.context["csrf_token"]
    response = browser.post(
        reverse("admin:login"),
        {"username": admin_user.username, "password": "password", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert browser.session["_auth_user_id"] == str(admin_user.pk)


def test_a_staff_action_in_the_admin_needs_the_token(admin_user, poll):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    response = browser.post(
        reverse("admin:polls_poll_delete", args=[poll.pk]),
        {"post": "yes"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": THIS_SITE},
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert poll.__class__.objects.filter(pk=poll.pk).exists()
