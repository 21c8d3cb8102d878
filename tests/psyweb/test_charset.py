"""A form sent in another charset than UTF-8 gets the site's 400 page (docs/polls.md).

The bodies are sent with `generic()`: `post()` re-encodes a body in the charset its content
type names, and fails on a charset Python does not know.
"""

from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from django.test import Client
from pytest_django.asserts import assertContains

from polls.models import Choice, Vote

pytestmark = pytest.mark.django_db

BAD_REQUEST_PAGE = '<h1 id="error-title">We could not understand that request</h1>'
NOT_UTF8 = ["latin-1", "utf-16", "x-nonsense"]  # the last, a charset nobody knows
BOUNDARY = "psyweb-form-boundary"


def encode(text, charset):
    try:
        return text.encode(charset)
    except LookupError:
        return text.encode()  # a charset no one knows: the bytes could be anything


def form(kind, charset, fields):
    """(body, content type) of a form with `fields`, written in `charset` as a browser would."""
    if kind == "urlencoded":
        try:
            body = urlencode(fields, encoding=charset).encode()
        except LookupError:
            body = urlencode(fields).encode()
        return body, f"application/x-www-form-urlencoded; charset={charset}"
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + encode(value, charset)
        + b"\r\n"
        for name, value in fields.items()
    ]
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}; charset={charset}"


def vote(poll, kind, charset):
    body, content_type = form(
        kind, charset, {"choice": str(poll.choices.first().pk), "next": "/articles/café/"}
    )
    return Client().generic("POST", f"/polls/{poll.slug}/vote/", body, content_type=content_type)


@pytest.mark.parametrize("charset", NOT_UTF8)
@pytest.mark.parametrize("kind", ["urlencoded", "multipart"])
def test_a_vote_in_another_charset_gets_the_400_page_and_counts_nothing(poll, kind, charset):
    response = vote(poll, kind, charset)
    assertContains(response, BAD_REQUEST_PAGE, status_code=HTTPStatus.BAD_REQUEST, html=True)
    assert not Vote.objects.exists()
    assert set(Choice.objects.with_votes().values_list("votes", flat=True)) == {0}


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8"])
def test_a_multipart_vote_in_utf8_by_any_name_is_counted(poll, charset):
    response = vote(poll, "multipart", charset)
    assert response.status_code == HTTPStatus.SEE_OTHER
    assert Vote.objects.count() == 1


# Django refuses a urlencoded form in another charset it knows. It reads a multipart form in
# whatever charset that form names, and takes a charset it does not know for UTF-8; the site
# refuses both before anything reads them (psyweb.middleware.UnreadableInputMiddleware).


@pytest.mark.parametrize(
    ("kind", "charset"),
    [
        ("urlencoded", "latin-1"),
        ("urlencoded", "utf-16"),
        ("urlencoded", "x-nonsense"),
        ("multipart", "latin-1"),
        ("multipart", "utf-16"),
        ("multipart", "x-nonsense"),
    ],
)
def test_an_admin_login_in_another_charset_gets_the_400_page(kind, charset):
    visitor = Client(enforce_csrf_checks=True)
    visitor.get("/admin/login/")  # a visitor with a CSRF cookie, sending its token
    token = visitor.cookies["csrftoken"].value
    body, content_type = form(
        kind, charset, {"csrfmiddlewaretoken": token, "username": "staff", "password": "pässword"}
    )
    response = visitor.generic("POST", "/admin/login/", body, content_type=content_type)
    assertContains(response, BAD_REQUEST_PAGE, status_code=HTTPStatus.BAD_REQUEST, html=True)


@pytest.mark.parametrize("url", ["/admin/articles/article/?q=%00", "/?page=%00", "/?x=a%00b"])
def test_a_nul_character_in_the_query_gets_the_400_page(admin_client, url):
    response = admin_client.get(url)
    assertContains(response, BAD_REQUEST_PAGE, status_code=HTTPStatus.BAD_REQUEST, html=True)
