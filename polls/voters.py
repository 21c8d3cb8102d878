"""Who is voting, without knowing who anyone is.

A visitor's browser holds a random token in a signed, HttpOnly cookie, given with its first
vote or by the poll island (static/js/polls.js) on the reader's first touch of a poll form,
so that the clicks that follow carry the same token. The database only ever
sees an HMAC, under a secret from the environment, of the poll and that token (or, for a
signed-in user, the poll and the user id): enough to refuse a second ballot in the same poll,
useless for finding out who cast the first or which other polls they answered.
"""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core import signing

from .models import Selection

COOKIE_NAME = "psyweb_voter"
COOKIE_SALT = "polls.voter"
COOKIE_MAX_AGE = 60 * 60 * 24 * 365


def _hmac(message):
    key = settings.POLL_VOTER_SECRET.encode()
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def voter_token(request):
    """The token in the visitor's cookie, or None when there is none or it was tampered with."""
    try:
        return request.get_signed_cookie(COOKIE_NAME, salt=COOKIE_SALT)
    except (KeyError, signing.BadSignature):
        return None


def new_voter_token():
    return secrets.token_urlsafe(32)


def voter_key(request, poll, token=None):
    """The key this visitor's ballot in `poll` is stored under; None with no token yet.

    The poll is part of the hashed message, so one voter's keys differ from poll to poll:
    their ballots in different polls cannot be joined into a profile.
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return _hmac(f"poll:{poll.pk}:user:{user.pk}")
    token = token or voter_token(request)
    return key_for_token(poll, token) if token else None


def key_for_token(poll, token):
    return _hmac(f"poll:{poll.pk}:token:{token}")


def remember_voter(response, token):
    response.set_signed_cookie(
        COOKIE_NAME,
        token,
        salt=COOKIE_SALT,
        max_age=COOKIE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def ballot_of(request, poll, token=None):
    """This visitor's ballot in `poll`, found by its voter key; None if they have not voted.

    A signed-in reader is also found by the token their browser may hold: one who voted
    before signing in has voted. One query: the ballot comes with its answers' ids.
    """
    keys = [voter_key(request, poll, token)]
    token = token or voter_token(request)
    if token and request.user.is_authenticated:
        keys.append(key_for_token(poll, token))
    keys = [key for key in keys if key]
    if not keys:
        return None
    selections = list(
        Selection.objects.filter(vote__poll=poll, vote__voter_key__in=keys)
        .select_related("vote")
        .order_by("vote_id", "choice_id")
    )
    if not selections:
        return None
    ballot = selections[0].vote
    ballot.poll = poll  # the poll with its answers, as the caller has it
    ballot.choice_ids = [s.choice_id for s in selections if s.vote_id == ballot.pk]
    return ballot
