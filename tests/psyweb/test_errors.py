"""Every bad request is answered with the site's own page and a message a person understands."""

import json
import socket
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from .test_settings import run_django

pytestmark = pytest.mark.django_db


def test_unknown_address_gets_the_sites_404_page(client):
    response = client.get("/no/such/page/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Page not found" in response.text
    assert '<nav aria-label="Main">' in response.text


def test_form_without_csrf_token_gets_a_403_that_explains(db):
    response = Client(enforce_csrf_checks=True).post(
        reverse("admin:login"), {"username": "a", "password": "b"}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Your form could not be accepted" in response.text
    assert "reload the page" in response.text


def test_unknown_host_header_gets_a_400_page(client):
    response = client.get("/", headers={"host": "evil.example"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "We could not understand that request" in response.text


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writing_methods_on_the_home_page_are_405(client, method):
    response = getattr(client, method)(reverse("articles:index"))
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert "This page cannot do that" in response.text


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_during_an_outage(path):
    """GET `path` from a fresh Django whose database does not answer: (status, headers, body)."""
    result = run_django(
        "import json\n"
        "from django.test import Client\n"
        f"r = Client().get({path!r}, headers={{'host': 'localhost'}})\n"
        "print(r.status_code, json.dumps(dict(r.headers)))\n"
        "print(r.content.decode())",
        SECRET_KEY="k",
        SECURE_SSL_REDIRECT="False",
        ALLOWED_HOSTS="localhost",
        DATABASE_URL=f"postgres://nobody@127.0.0.1:{closed_port()}/psyweb?connect_timeout=2",
    )
    first_line, _, body = result.stdout.partition("\n")
    assert first_line, result.stderr
    status, headers = first_line.split(" ", 1)
    return int(status), json.loads(headers), body


def test_database_outage_gets_a_503_page_not_a_traceback():
    status, headers, page = get_during_an_outage("/")
    assert (status, headers["Retry-After"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "30")
    assert "PsyWeb is briefly unavailable" in page
    assert "Traceback" not in page


@pytest.mark.parametrize("url", ["/feed/", "/sitemap.xml"])
def test_posting_to_the_feed_or_sitemap_is_405(url):
    response = Client(enforce_csrf_checks=True).post(url)
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert "This page cannot do that" in response.text


def test_database_outage_on_a_json_address_answers_json():
    status, headers, body = get_during_an_outage("/polls/x/results.json")
    assert (status, headers["Content-Type"]) == (HTTPStatus.SERVICE_UNAVAILABLE, "application/json")
    assert "briefly unavailable" in json.loads(body)["error"]


@pytest.mark.parametrize("charset", ["latin-1", "utf-16"])
@pytest.mark.parametrize("url", ["/polls/antidepressants/vote/", "/admin/login/"])
def test_a_form_in_another_charset_gets_the_400_page(poll, charset, url):
    # Django reads only UTF-8 forms; its CSRF check reads the form, also on the error page.
    visitor = Client(enforce_csrf_checks=True)
    visitor.get("/admin/login/")  # a visitor with a CSRF cookie
    response = visitor.post(
        url, data=b"choice=1", content_type=f"application/x-www-form-urlencoded; charset={charset}"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "We could not understand that request" in response.text


def test_favicon_ico_leads_to_the_sites_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert response["Location"] == "/static/favicon.svg"


@pytest.mark.parametrize("url", ["/articles/no-such-article/", "/no/such/page/"])
def test_with_debug_on_a_reader_still_gets_the_sites_404_page(client, settings, url):
    settings.DEBUG = True
    response = client.get(url)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Page not found" in response.text
    assert '<nav aria-label="Main">' in response.text
    assert "URLconf" not in response.text


def test_with_debug_on_a_json_404_stays_json(client, settings):
    settings.DEBUG = True
    response = client.get("/polls/nope/results.json")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "error" in response.json()


def test_with_debug_on_a_bad_host_gets_the_sites_400_page_not_a_traceback(client, settings):
    settings.DEBUG = True
    response = client.get("/", headers={"host": "evil.example"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "We could not understand that request" in response.text
    assert "Traceback" not in response.text
    assert "DisallowedHost" not in response.text


def test_with_debug_on_the_sites_own_400_pages_are_kept(poll, settings):
    settings.DEBUG = True
    response = Client().post(reverse("polls:vote", args=[poll.slug]), {})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Please choose an answer before voting." in response.text


def test_the_400_for_an_unknown_host_carries_the_security_headers(client):
    response = client.get("/", headers={"host": "evil.example"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
