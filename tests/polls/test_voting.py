"""Voting through the form, as a browser without JavaScript does it."""

import datetime
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from polls.models import Vote
from polls.voters import COOKIE_NAME

pytestmark = pytest.mark.django_db


def vote_url(poll):
    return reverse("polls:vote", args=[poll.slug])


def counts(poll):
    return list(poll.choices.values_list("votes", flat=True))


def test_poll_page_shows_the_question_as_a_fieldset_with_labelled_choices(client, poll):
    response = client.get(poll.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    text = response.text
    assert f'<form class="poll-form" method="post" action="{vote_url(poll)}">' in text
    assert f'<legend class="poll-question">{poll.question}</legend>' in text
    for choice in poll.choices.all():
        field_id = f"poll-{poll.slug}-choice-{choice.pk}"
        assert f'value="{choice.pk}" id="{field_id}">' in text
        assert f'<label for="{field_id}">{choice.text}</label>' in text
    assert 'name="csrfmiddlewaretoken"' in text
    assert "Total votes: 0" in text


def test_a_vote_redirects_back_to_the_page_it_came_from(client, poll):
    choice = poll.choices.all()[1]
    response = client.post(vote_url(poll), {"choice": choice.pk, "next": "/articles/some-article/"})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"/articles/some-article/#poll-{poll.slug}"
    assert counts(poll) == [0, 1, 0]


def test_after_voting_the_visitor_sees_the_results_and_a_thank_you(client, poll):
    choice = poll.choices.all()[1]
    response = client.post(vote_url(poll), {"choice": choice.pk}, follow=True)
    assert response.status_code == HTTPStatus.OK
    assert "Thank you for voting." in response.text
    assert "100% (1 vote)" in response.text
    assert "Total votes: 1" in response.text
    assert '<form class="poll-form"' not in response.text


def test_without_a_next_page_the_vote_lands_on_the_results(client, poll):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response["Location"] == f"{reverse('polls:results', args=[poll.slug])}#poll-{poll.slug}"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/phish", "//evil.example/", "javascript:alert(1)", "\\\\evil.example"],
)
def test_a_next_page_on_another_site_is_ignored(client, poll, next_url):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk, "next": next_url})
    assert response["Location"].startswith(reverse("polls:results", args=[poll.slug]))


def test_the_voter_cookie_is_signed_httponly_and_lax(client, poll):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert ":" in cookie.value  # token:timestamp:signature


def test_a_second_vote_by_the_same_visitor_is_refused_with_the_results(client, poll):
    first, second, _ = poll.choices.all()
    client.post(vote_url(poll), {"choice": first.pk})
    response = client.post(vote_url(poll), {"choice": second.pk})
    assert response.status_code == HTTPStatus.CONFLICT
    assert "You have already voted in this poll." in response.text
    assert "Total votes: 1" in response.text
    assert counts(poll) == [1, 0, 0]


def test_a_signed_in_user_cannot_vote_again_from_another_browser(poll, admin_user):
    first, second = Client(), Client()
    first.force_login(admin_user)
    second.force_login(admin_user)
    first.post(vote_url(poll), {"choice": poll.choices.first().pk})
    response = second.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.CONFLICT
    assert Vote.objects.count() == 1


def test_a_forged_voter_cookie_gets_a_fresh_token_not_someone_elses_ballot(poll):
    visitor = Client()
    visitor.cookies[COOKIE_NAME] = "forged-token"
    response = visitor.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert response.status_code == HTTPStatus.FOUND
    assert response.cookies[COOKIE_NAME].value != "forged-token"


def test_distinct_visitors_each_get_counted(poll):
    for _ in range(3):
        Client().post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert counts(poll) == [3, 0, 0]


def test_no_choice_picked_shows_the_form_again_with_a_message(client, poll):
    response = client.post(vote_url(poll), {})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Please choose an answer before voting." in response.text
    assert 'role="alert"' in response.text
    assert '<form class="poll-form"' in response.text
    assert not Vote.objects.exists()


@pytest.mark.parametrize("value", ["abc", "1.5", "-1", "", " ", "0x1", "1e3", "\x00", "9" * 40])
def test_a_choice_that_is_not_a_whole_number_of_this_poll_is_a_400(client, poll, value):
    response = client.post(vote_url(poll), {"choice": value})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Vote.objects.exists()


def test_a_choice_of_another_poll_is_a_400(client, poll, make_poll):
    other = make_poll()
    response = client.post(vote_url(poll), {"choice": other.choices.first().pk})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "That answer is not one of this poll" in response.text
    assert not Vote.objects.exists()


def test_several_choice_values_are_a_400(client, poll):
    first, second, _ = poll.choices.all()
    response = client.post(vote_url(poll), {"choice": [first.pk, second.pk]})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Please choose only one answer." in response.text
    assert not Vote.objects.exists()


def test_an_unknown_poll_is_a_404(client):
    response = client.post(reverse("polls:vote", args=["no-such-poll"]), {"choice": 1})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Page not found" in response.text


def test_get_on_the_vote_address_is_a_405_page(client, poll):
    response = client.get(vote_url(poll))
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "OPTIONS, POST"
    assert "This page cannot do that" in response.text


def test_a_vote_without_a_csrf_token_is_a_403_page(poll):
    response = Client(enforce_csrf_checks=True).post(
        vote_url(poll), {"choice": poll.choices.first().pk}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Your form could not be accepted" in response.text
    assert not Vote.objects.exists()


def test_a_vote_with_a_wrong_csrf_token_is_a_403(poll):
    visitor = Client(enforce_csrf_checks=True)
    visitor.get(poll.get_absolute_url())
    response = visitor.post(
        vote_url(poll), {"choice": poll.choices.first().pk, "csrfmiddlewaretoken": "x" * 64}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Vote.objects.exists()


def test_a_vote_with_the_pages_csrf_token_is_accepted(poll):
    visitor = Client(enforce_csrf_checks=True)
    page = visitor.get(poll.get_absolute_url())
    token = page.context["csrf_token"]
    response = visitor.post(
        vote_url(poll), {"choice": poll.choices.first().pk, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == HTTPStatus.FOUND
    assert Vote.objects.count() == 1


@pytest.mark.parametrize("with_choice", [True, False])
def test_a_closed_poll_says_so_and_counts_nothing(client, make_poll, now, with_choice):
    poll = make_poll(closes_at=now - datetime.timedelta(seconds=1))
    sent = {"choice": poll.choices.first().pk} if with_choice else {}
    response = client.post(vote_url(poll), sent)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "This poll has closed" in response.text
    assert not Vote.objects.exists()


@pytest.mark.parametrize("sent", [{"choice": "first"}, {}, {"choice": "abc"}])
def test_a_poll_not_open_yet_says_so_shows_nothing_of_it_and_counts_nothing(
    client, make_poll, now, sent
):
    poll = make_poll(
        question="Secret question?", opens_at=now + datetime.timedelta(hours=1), choices=["Hidden"]
    )
    if sent.get("choice") == "first":
        sent = {"choice": poll.choices.first().pk}
    response = client.post(vote_url(poll), sent)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "This poll is not open for voting yet." in response.text
    assert "Secret question?" not in response.text
    assert "Hidden" not in response.text
    assert not Vote.objects.exists()


def test_a_closed_poll_page_shows_results_and_no_form(client, make_poll, now):
    poll = make_poll(closes_at=now - datetime.timedelta(seconds=1))
    response = client.get(poll.get_absolute_url())
    assert "This poll closed on" in response.text
    assert '<form class="poll-form"' not in response.text
    assert '<ul class="poll-results"' in response.text


def test_post_to_the_poll_page_or_results_is_a_405(client, poll):
    for url in (poll.get_absolute_url(), reverse("polls:results", args=[poll.slug])):
        assert client.post(url).status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_poll_pages_query_counts_are_pinned(client, poll, django_assert_max_num_queries):
    client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    with django_assert_max_num_queries(3):
        client.get(poll.get_absolute_url())
    with django_assert_max_num_queries(3):
        client.get(reverse("polls:results", args=[poll.slug]))
    # poll, choices, INSERT ballot, UPDATE count, and the transaction's savepoint pair.
    with django_assert_max_num_queries(6):
        Client().post(vote_url(poll), {"choice": poll.choices.first().pk})


@pytest.mark.parametrize("next_url", ["/x\x00", "/x\r\nSet-Cookie: a=b", "/%0d%0aLocation:x"])
def test_a_hostile_next_page_never_breaks_the_vote_or_the_headers(client, poll, next_url):
    response = client.post(vote_url(poll), {"choice": poll.choices.first().pk, "next": next_url})
    assert response.status_code == HTTPStatus.FOUND
    assert "\n" not in response["Location"]
    assert "Set-Cookie: a" not in str(response.headers)
    assert counts(poll) == [1, 0, 0]


def test_the_form_shown_again_keeps_the_page_to_return_to(client, poll):
    response = client.post(vote_url(poll), {"next": "/articles/some-article/"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'name="next" value="/articles/some-article/"' in response.text
    without_next = Client().post(vote_url(poll), {})
    assert f'name="next" value="{poll.get_absolute_url()}"' in without_next.text


def test_a_new_visitor_gets_a_voter_token_with_the_form(client, poll, make_article):
    page = client.get(make_article(poll=poll).get_absolute_url())
    assert page.cookies[COOKIE_NAME]["httponly"]
    again = client.get(poll.get_absolute_url())
    assert COOKIE_NAME not in again.cookies  # kept, not replaced


def test_two_clicks_of_a_first_time_visitor_count_once(client, poll):
    client.get(poll.get_absolute_url())
    first = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    second = client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    assert (first.status_code, second.status_code) == (HTTPStatus.FOUND, HTTPStatus.CONFLICT)
    assert counts(poll) == [1, 0, 0]


def test_signed_in_users_get_no_voter_cookie(client, poll, admin_user):
    client.force_login(admin_user)
    assert COOKIE_NAME not in client.get(poll.get_absolute_url()).cookies


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_on_the_vote_address_are_405_not_a_csrf_page(poll, method):
    response = getattr(Client(enforce_csrf_checks=True), method)(vote_url(poll))
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert "This page cannot do that" in response.text


def test_a_next_page_that_is_the_vote_address_is_not_followed(client, poll):
    response = client.post(
        vote_url(poll), {"choice": poll.choices.first().pk, "next": vote_url(poll)}
    )
    assert response["Location"] == f"{reverse('polls:results', args=[poll.slug])}#poll-{poll.slug}"


def test_thanks_right_after_voting_then_a_plain_reminder(client, poll):
    client.post(vote_url(poll), {"choice": poll.choices.first().pk})
    first = client.get(poll.get_absolute_url())
    later = client.get(poll.get_absolute_url())
    assert "Thank you for voting." in first.text
    assert "Thank you for voting." not in later.text
    assert "You have voted in this poll." in later.text


def test_a_scheduled_poll_is_not_found_by_the_public_but_staff_preview_it(
    client, admin_client, make_poll, now
):
    poll = make_poll(opens_at=now + datetime.timedelta(days=1))
    for name in ("polls:detail", "polls:results", "polls:results_json"):
        url = reverse(name, args=[poll.slug])
        assert client.get(url).status_code == HTTPStatus.NOT_FOUND
        assert admin_client.get(url).status_code == HTTPStatus.OK
    assert "This poll opens on" in admin_client.get(poll.get_absolute_url()).text


def test_a_page_that_issues_a_voter_token_is_not_shared_by_caches(client, poll):
    response = client.get(poll.get_absolute_url())
    assert COOKIE_NAME in response.cookies
    assert "private" in response["Cache-Control"]
