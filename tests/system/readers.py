"""Readers of the site for the system tests, and the storm of them voting at once.

Each reader keeps the cookies the site gives it, as a browser does, and may come from an
address of its own: all of 127.0.0.0/8 is this machine's loopback, so readers connecting from
127.1.0.1, 127.1.0.2 … reach nginx on 127.0.0.1 as distinct clients, and the per-address vote
limit behind it sees them as such. Nothing is ever sent to any address but 127.0.0.1.
"""

import concurrent.futures
import http.client
import importlib.util
import json
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.scaling.visitors import SAME_ORIGIN_FORM, set_cookies

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # the only address requests go to
REQUEST_SECONDS = 20  # the longest one request may take
ACCEPTED = {"form": 303, "json": 200}  # how the site says "your vote was counted"


def _load_bench_stack():
    """bench/stack.py, the benchmarks' helpers (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("psyweb_bench_stack", ROOT / "bench/stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The benchmarks' pieces reused here: the production environment over plain HTTP on 127.0.0.1
# (site_env), the demo poll's pages and vote form (FormParser), and the counts (poll_counts).
bench = _load_bench_stack()


class DemoPoll:
    """The demo poll (`manage.py load_demo`), on its own page and beside the demo article."""

    slug = bench.POLL_PATH.strip("/").split("/")[-1]
    path = bench.POLL_PATH
    article_path = bench.ARTICLE_PATH

    @staticmethod
    def form(page):
        """The vote form on a page: (hidden fields, choice values). ValueError if it has none."""
        parser = bench.FormParser(convert_charrefs=True)
        parser.feed(page.decode("utf-8", "replace"))
        if parser.found is None:
            raise ValueError(f"no vote form for {bench.VOTE_PATH}")
        return parser.found["hidden"], parser.found["choices"]


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


class Reader:
    """One reader with a cookie jar of its own, talking to 127.0.0.1:`port`."""

    def __init__(self, port, *, address=HOST, cookies=None):
        self.port = port
        self.address = address
        self.cookies = {} if cookies is None else cookies

    def at(self, port):
        """The same reader (the same cookies, shared) talking to another server."""
        return Reader(port, address=self.address, cookies=self.cookies)

    @property
    def origin(self):
        return f"http://{HOST}:{self.port}"

    def request(self, method, path, *, body=None, headers=None):
        """One request on a new connection; redirects are not followed."""
        connection = http.client.HTTPConnection(
            HOST, self.port, timeout=REQUEST_SECONDS, source_address=(self.address, 0)
        )
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        finally:
            connection.close()
        for name, morsel in set_cookies(answer.headers).items():
            if morsel["max-age"] == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value
        return answer

    def state(self, slug):
        """The poll island's view of a poll (and, the first time, the voter cookie)."""
        answer = self.request("GET", f"/polls/{slug}/state.json")
        assert answer.status == 200, answer
        return answer.json()

    def vote(self, slug, choice, *, how="json", fields=None, headers=None):
        """POST a ballot as a browser on this site does: the form (303) or the island (JSON)."""
        body = urllib.parse.urlencode({**(fields or {}), "choice": choice})
        headers = {**SAME_ORIGIN_FORM, "Origin": self.origin, **(headers or {})}
        if how == "json":
            headers["Accept"] = "application/json"
        return self.request("POST", f"/polls/{slug}/vote/", body=body, headers=headers)


def loopback_address(index):
    """Reader `index`'s own address: 127.1.0.1, 127.1.0.2 … (up to 62 500 readers)."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


@dataclass
class Outcome:
    """What happened to one reader of a storm."""

    index: int
    how: str  # "form" or "json"
    page: str
    choice: str | None = None
    posted: bool = False  # the vote was sent (whether or not an answer came)
    status: int | None = None  # the vote's answer
    statuses: list = field(default_factory=list)  # every answer this reader got, in order
    error: str | None = None  # a request without an answer: a reset, a time-out …
    started: float = 0.0
    finished: float = 0.0

    @property
    def accepted(self):
        return self.status == ACCEPTED[self.how]

    @property
    def uncertain(self):
        """A vote sent without a clear refusal: it may have been counted, or not."""
        return self.posted and (self.status is None or self.status >= 500)


def read_and_vote(index, port, deadline, poll=DemoPoll):
    """Reader `index`: GET the article or the poll page, then vote, as a browser does.

    Half vote through the plain form (303, then the page it leads to), half as the poll island
    does (state.json, then a JSON vote), on the pages bench/vote_storm.py uses.
    """
    how = "json" if index % 2 else "form"
    page = poll.article_path if (index // 2) % 2 else poll.path
    outcome = Outcome(index, how, page, started=time.monotonic())
    if time.monotonic() > deadline:
        outcome.error = "deadline"
        return outcome
    reader = Reader(port, address=loopback_address(index))
    try:
        answer = reader.request("GET", page)
        outcome.statuses.append(answer.status)
        hidden, choices = poll.form(answer.body)
        if how == "json":
            outcome.statuses.append(reader.request("GET", poll.path + "state.json").status)
        outcome.choice = choices[index % len(choices)]
        outcome.posted = True
        answer = reader.vote(poll.slug, outcome.choice, how=how, fields={"next": page, **hidden})
        outcome.status = answer.status
        outcome.statuses.append(answer.status)
        if answer.status == 303:  # a browser goes on to "your vote" page
            location = urllib.parse.urlsplit(answer.headers["Location"])
            landing = location._replace(scheme="", netloc="").geturl()
            outcome.statuses.append(reader.request("GET", landing).status)
    except ValueError as error:
        outcome.error = f"bad page: {error}"
    except (OSError, http.client.HTTPException) as error:
        outcome.error = type(error).__name__
    outcome.finished = time.monotonic()
    return outcome


def vote_straight_away(index, port, choice, poll=DemoPoll):
    """Reader `index` votes (JSON) without reading first: the one request is the POST."""
    outcome = Outcome(index, "json", poll.path, choice=choice, started=time.monotonic())
    reader = Reader(port, address=loopback_address(index))
    try:
        outcome.posted = True
        outcome.status = reader.vote(poll.slug, choice).status
        outcome.statuses.append(outcome.status)
    except (OSError, http.client.HTTPException) as error:
        outcome.error = type(error).__name__
    outcome.finished = time.monotonic()
    return outcome


def storm(port, indices, *, seconds, concurrency=32, after=None):
    """Readers `indices` voting in the demo poll through 127.0.0.1:`port`, `concurrency` at once.

    Bounded: readers not started within `seconds` give up at once, and each request within
    REQUEST_SECONDS. `after` = (count, action): `action()` runs once `count` readers are done,
    while the others are still under way. Returns the outcomes, in the order of `indices`.
    """
    deadline = time.monotonic() + seconds
    count, action = after or (None, None)
    with concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="reader") as pool:
        futures = [pool.submit(read_and_vote, i, port, deadline) for i in indices]
        for done, _ in enumerate(concurrent.futures.as_completed(futures), start=1):
            if done == count:
                action()
    return [future.result() for future in futures]


def summary(outcomes):
    """What a storm's readers got, for assertion messages: {"form 303": n, "json 502": n, …}."""
    return dict(Counter(f"{o.how} {o.error or o.status}" for o in outcomes))
