"""Read-your-writes: a visitor who has just written reads from the primary, while the replica
is made to lag on purpose (its replay paused), so that a read from it would show a world
without their vote or their save. Real clusters (clusters.py)."""

import json
from http import HTTPStatus

import pytest

from tests.psyweb.test_settings import run_django

from .visitors import SAME_ORIGIN_FORM, Visitor, set_cookies

pytestmark = pytest.mark.postgresql

# The paused replica stays in use however long a test takes, so that what a read from it shows
# can be seen (the fallback on lag is tested in test_replicas.py).
LAG_IGNORED = {
    "DATABASE_REPLICA_MAX_LAG_SECONDS": "3600",
    "DATABASE_PRIMARY_STICKY_SECONDS": "3700",
}


def test_a_voter_sees_their_vote_though_the_replica_has_not_replayed_it(
    replicated_database, open_poll, site
):
    slug, (yes, _) = open_poll
    voter = Visitor(site(**LAG_IGNORED))
    assert voter.state(slug)["voted"] is False  # read from the replica

    with replicated_database.replay_paused():
        status, headers, body = voter.vote(slug, yes)
        assert (status, body["voted"], body["own_choices"]) == (HTTPStatus.OK, True, [yes])
        sticky = set_cookies(headers)["psyweb_primary"]
        assert sticky["max-age"] == "3700"

        assert voter.state(slug)["voted"] is True  # with the cookie: from the primary

        # Without it, the same visitor reads the replica, which does not have the ballot yet.
        del voter.cookies["psyweb_primary"]
        assert voter.state(slug)["voted"] is False

    assert voter.state(slug)["voted"] is True  # replayed


def test_only_a_request_that_wrote_sets_the_cookie_and_shared_pages_never_do(open_poll, site):
    slug, (yes, _) = open_poll
    server = site()
    visitor = Visitor(server)

    status, headers, _ = visitor.request("GET", f"/polls/{slug}/state.json")
    assert status == HTTPStatus.OK
    assert set(set_cookies(headers)) == {"psyweb_voter"}  # a token, but nothing was written

    status, headers, _ = visitor.vote(slug, yes)
    assert status == HTTPStatus.OK
    sticky = set_cookies(headers)["psyweb_primary"]
    assert sticky.value == "1"
    assert sticky["max-age"] == "5"
    assert sticky["httponly"] is True
    assert sticky["samesite"] == "Lax"
    assert sticky["path"] == "/"

    # A second vote is refused before anything is written: no cookie.
    status, headers, _ = visitor.vote(slug, yes)
    assert status == HTTPStatus.CONFLICT
    assert "psyweb_primary" not in set_cookies(headers)

    # A shared page, rendered for a visitor who carries the cookie (a cache miss), is the same
    # shareable page as for anyone: no cookie set, marked public, the same bytes.
    status, headers, page = visitor.request("GET", f"/polls/{slug}/")
    assert status == HTTPStatus.OK
    assert headers.get_all("Set-Cookie") is None
    assert "public" in headers["Cache-Control"]
    status, _, page_for_anyone, _ = server.request("GET", f"/polls/{slug}/")
    assert page_for_anyone == page

    status, headers, _ = visitor.request("POST", f"/polls/{slug}/", headers=SAME_ORIGIN_FORM)
    assert status == HTTPStatus.METHOD_NOT_ALLOWED
    assert headers.get_all("Set-Cookie") is None


def test_staff_see_what_they_just_saved_though_the_replica_has_not_replayed_it(
    replicated_database,
):
    setup = run_django(
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username='editor').delete()\n"
        "User.objects.create_superuser('editor', 'editor@example.org', 'a long passphrase')\n",
        **replicated_database.site_env(replicas=False),
    )
    assert setup.returncode == 0, setup.stderr
    replicated_database.wait_for_replay()

    with replicated_database.replay_paused():
        result = run_django(
            "import json\n"
            "from django.contrib.auth.models import Group\n"
            "from django.test import Client\n"
            "staff = Client()\n"
            "seen = {}\n"
            "signed_in = staff.post('/admin/login/', {'username': 'editor',\n"
            "    'password': 'a long passphrase', 'next': '/admin/'})\n"
            "seen['sign-in'] = [signed_in.status_code, 'psyweb_primary' in signed_in.cookies]\n"
            "saved = staff.post('/admin/auth/group/add/', {'name': 'Reviewers', '_save': '1'})\n"
            "seen['save'] = [saved.status_code, 'psyweb_primary' in saved.cookies]\n"
            "listed = staff.get('/admin/auth/group/')\n"
            "seen['list'] = [listed.status_code, 'Reviewers' in listed.content.decode()]\n"
            "del staff.cookies['psyweb_primary']\n"
            "seen['list without the cookie'] = staff.get('/admin/auth/group/').status_code\n"
            "seen['outside a request'] = Group.objects.filter(name='Reviewers').exists()\n"
            "print(json.dumps(seen))\n",
            **replicated_database.site_env(
                ALLOWED_HOSTS="testserver",
                CACHE_URL="locmemcache://",
                SECURE_SSL_REDIRECT="False",
                **LAG_IGNORED,
            ),
        )
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout)
        assert replicated_database.replica.value(
            "SELECT count(*) FROM auth_group WHERE name = 'Reviewers'"
        ) == 0  # fmt: skip

    assert seen == {
        "sign-in": [HTTPStatus.FOUND, True],
        "save": [HTTPStatus.FOUND, True],
        "list": [HTTPStatus.OK, True],
        # The replica knows neither the sign-in nor the save: to it, this is no one.
        "list without the cookie": HTTPStatus.FOUND,
        # Commands and the shell read from the primary.
        "outside a request": True,
    }


def test_reads_go_to_the_primary_after_a_write_in_a_transaction_and_inside_primary(
    replicated_database,
):
    result = run_django(
        "import json\n"
        "from django.db import transaction\n"
        "from django.http import HttpResponse\n"
        "from django.test import RequestFactory\n"
        "from polls.models import Poll\n"
        "from psyweb.routers import ReadYourWritesMiddleware, primary\n"
        "seen = []\n"
        "def where():\n"
        "    seen.append(Poll.objects.all().db)\n"
        "def view(request):\n"
        "    where()\n"
        "    with primary():\n"
        "        where()\n"
        "        with primary():\n"
        "            where()\n"
        "        where()\n"
        "    where()\n"
        "    with transaction.atomic():\n"
        "        where()\n"
        "    where()\n"
        "    Poll.objects.filter(pk=0).update(question='?')\n"
        "    where()\n"
        "    return HttpResponse()\n"
        "def other(request):\n"
        "    where()\n"
        "    return HttpResponse()\n"
        "requests = RequestFactory()\n"
        "wrote = ReadYourWritesMiddleware(view)(requests.get('/'))\n"
        "ReadYourWritesMiddleware(other)(requests.post('/'))\n"
        "ReadYourWritesMiddleware(other)(requests.get('/', HTTP_COOKIE='psyweb_primary=1'))\n"
        "where()\n"
        "print(json.dumps({'seen': seen, 'cookie': 'psyweb_primary' in wrote.cookies}))\n",
        **replicated_database.site_env(),
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)

    assert shown["seen"] == [
        "replica_1",  # a GET
        "default",  # inside primary()
        "default",  # nested
        "default",  # still inside the outer block
        "replica_1",  # after it
        "default",  # in a transaction
        "replica_1",  # after it
        "default",  # after a write, for the rest of the request
        "default",  # a POST
        "default",  # a GET with the cookie
        "default",  # outside a request
    ]
    assert shown["cookie"] is True
