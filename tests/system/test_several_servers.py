"""Two app servers behind nginx, on a PostgreSQL primary and streaming replica behind PgBouncer,
with Redis: what readers do on one machine, they can do on several, and notice nothing.

The site is started once for the module (conftest.py: `site`). Readers talk to nginx, as
readers do, or straight to one app server, to pin down which server answers.
"""

import concurrent.futures
import json
import threading
import time
import uuid
from collections import Counter
from http import HTTPStatus

import pytest

from .conftest import STOP_SECONDS, VOTE_LIMIT
from .readers import DemoPoll, Reader, storm, summary, vote_straight_away

pytestmark = pytest.mark.postgresql

STORM_READERS = 400
FAILOVER_READERS = 240
STOP_AFTER = 60  # readers done when one app server is stopped
STORM_SECONDS = 90  # readers not started by then give up (and the test fails)
SHOWS_WITHIN = 2  # seconds: an edit or a vote shows on every server, and through nginx
FAIL_TIMEOUT = 5  # seconds nginx leaves a failed app server out (deploy/serve.py, nginx.conf)
OK_ANSWERS = {HTTPStatus.OK, HTTPStatus.SEE_OTHER}


def rise(before, after):
    """How far the primary's Selection rows and stored counts rose, per answer."""
    rose = []
    for kind in ("rows", "counts"):
        by_answer = {choice: n - before[kind].get(choice, 0) for choice, n in after[kind].items()}
        rose.append({choice: n for choice, n in by_answer.items() if n})
    return tuple(rose)


def test_a_storm_of_400_readers_voting_through_nginx_loses_no_vote(several_servers):
    site = several_servers
    before = site.counts(DemoPoll.slug)
    work_before = [server.cpu_seconds() for server in site.servers]

    started = time.monotonic()
    outcomes = storm(site.balancer.port, range(STORM_READERS), seconds=STORM_SECONDS)
    elapsed = time.monotonic() - started

    rows, counts = rise(before, site.counts(DemoPoll.slug))
    work = [s.cpu_seconds() - was for s, was in zip(site.servers, work_before, strict=True)]
    accepted = [o for o in outcomes if o.accepted]
    report = f"{summary(outcomes)} in {elapsed:.1f} s; rows {rows}, counts {counts}"
    # Every reader got every page and had their vote accepted: nothing 5xx, nothing unanswered.
    assert len(accepted) == STORM_READERS, f"{report}\n{site.logs()}"
    assert all(set(o.statuses) <= OK_ANSWERS for o in outcomes), report
    # Every accepted vote is counted, once: stored counts = ballots' answers = accepted votes.
    assert rows == counts == dict(Counter(o.choice for o in accepted)), report
    # Both app servers did a share of the work (nginx sends requests to each in turn).
    assert min(work) > 0.25 * sum(work), f"CPU seconds per app server: {work}; {report}"
    print(f"storm: {report}; CPU seconds per app server {[round(w, 1) for w in work]}")


def test_a_reader_who_voted_on_one_server_cannot_vote_again_on_the_other(several_servers):
    site = several_servers
    slug, (yes, no) = "one-ballot", site.polls["one-ballot"]
    first_server, second_server = site.servers

    for first, second in ((first_server, second_server), (second_server, first_server)):
        reader = Reader(first.port)
        assert reader.state(slug)["voted"] is False
        assert reader.vote(slug, yes).status == HTTPStatus.OK
        # Without the cookie that keeps a voter's reads on the primary for a few seconds, the
        # other server still finds the ballot (a vote's checks always read the primary).
        assert reader.cookies.pop("psyweb_primary") == "1"
        assert reader.at(second.port).vote(slug, no).status == HTTPStatus.CONFLICT
        assert reader.at(site.balancer.port).vote(slug, no).status == HTTPStatus.CONFLICT

    rows, counts = rise({"rows": {}, "counts": {}}, site.counts(slug))
    assert rows == counts == {str(yes): 2}


def test_the_per_address_vote_limit_counts_across_both_servers(several_servers):
    site = several_servers
    slug, choices = "address-limit", site.polls["address-limit"]

    def straight_to_each_server(index):
        # Half to each server, each claiming the address nginx in front of it would append
        # to X-Forwarded-For (TRUSTED_PROXY_COUNT=1): one address, two servers.
        server = site.servers[index % 2]
        claimed = {"X-Forwarded-For": "203.0.113.7"}
        return Reader(server.port).vote(slug, choices[index % 2], headers=claimed)

    def through_nginx(index):
        # From one loopback address of its own, which nginx appends; nginx picks the server.
        return Reader(site.balancer.port, address="127.2.0.1").vote(slug, choices[index % 2])

    for send in (straight_to_each_server, through_nginx):
        with concurrent.futures.ThreadPoolExecutor(2 * VOTE_LIMIT) as pool:
            answers = list(pool.map(send, range(2 * VOTE_LIMIT)))
        statuses = Counter(answer.status for answer in answers)
        assert statuses == {HTTPStatus.OK: VOTE_LIMIT, HTTPStatus.TOO_MANY_REQUESTS: VOTE_LIMIT}
        refused = [a for a in answers if a.status == HTTPStatus.TOO_MANY_REQUESTS]
        assert all(int(answer.headers["Retry-After"]) > 0 for answer in refused)

    rows, counts = rise({"rows": {}, "counts": {}}, site.counts(slug))
    assert sum(rows.values()) == sum(counts.values()) == 2 * VOTE_LIMIT


def seconds_until_shown(site, path, shows, since):
    """How long after `since` (time.time()) each server, and nginx, first answered `path` with
    what `shows` accepts; None where that took over three times SHOWS_WITHIN."""
    ends = {server.name: server.port for server in site.servers}
    ends["nginx"] = site.balancer.port

    def watch(port):
        deadline = time.monotonic() + 3 * SHOWS_WITHIN
        while time.monotonic() < deadline:
            answer = Reader(port).request("GET", path)
            if answer.status == HTTPStatus.OK and shows(answer.body):
                return round(time.time() - since, 3)
            time.sleep(0.05)
        return None

    with concurrent.futures.ThreadPoolExecutor(len(ends)) as pool:
        seen = {name: pool.submit(watch, port) for name, port in ends.items()}
        return {name: future.result() for name, future in seen.items()}


def shown_in_time(seen):
    return all(seconds is not None and seconds < SHOWS_WITHIN for seconds in seen.values())


def test_an_edit_and_a_vote_show_through_either_server_and_nginx_within_2_seconds(
    several_servers,
):
    site = several_servers
    title = f"Rejection While Depressed, edited {uuid.uuid4().hex[:8]}"
    page = DemoPoll.article_path
    # Every cache (nginx's, Redis, the workers') holds the page as it was.
    for port in [server.port for server in site.servers] + [site.balancer.port]:
        assert Reader(port).request("GET", page).status == HTTPStatus.OK

    saved_at = float(
        site.orm(
            "import time\n"
            "from articles.models import Article\n"
            f"article = Article.objects.get(slug={page.strip('/').split('/')[-1]!r})\n"
            f"article.title = {title!r}\n"
            "article.save()\n"
            "print(time.time())\n"
        ).split()[-1]
    )
    seen = seconds_until_shown(site, page, lambda body: title.encode() in body, saved_at)
    assert shown_in_time(seen), f"the edit showed after {seen} s"

    slug, (yes, _) = "shows-everywhere", site.polls["shows-everywhere"]
    results = f"/polls/{slug}/results.json"
    for port in [server.port for server in site.servers] + [site.balancer.port]:
        assert json.loads(Reader(port).request("GET", results).body)["total_votes"] == 0
    sent_at = time.time()
    assert Reader(site.servers[0].port).vote(slug, yes).status == HTTPStatus.OK
    seen_vote = seconds_until_shown(
        site, results, lambda body: json.loads(body)["total_votes"] == 1, sent_at
    )
    assert shown_in_time(seen_vote), f"the vote showed after {seen_vote} s"
    print(f"seconds until shown: edit {seen}, vote {seen_vote}")


def test_stopping_an_app_server_mid_storm_loses_no_accepted_vote(several_servers):
    site = several_servers
    stopping = site.servers[1]
    before = site.counts(DemoPoll.slug)
    times = {}

    def note_exit():
        stopping.process.wait(timeout=STORM_SECONDS)
        times["exited"] = time.monotonic()

    watcher = threading.Thread(target=note_exit, daemon=True)

    def stop_one_server():
        times["stop"] = time.monotonic()
        stopping.terminate()  # SIGTERM: its workers finish the requests they are on
        watcher.start()

    outcomes = storm(
        site.balancer.port,
        range(10_000, 10_000 + FAILOVER_READERS),
        seconds=STORM_SECONDS,
        after=(STOP_AFTER, stop_one_server),
    )
    # Then votes one after another, each a lone POST, for longer than nginx leaves a failed
    # server out (fail_timeout): nginx tries the stopped server again with one of them, is
    # refused, and must pass that POST on to the other server.
    choices = sorted({o.choice for o in outcomes if o.choice})
    until = time.monotonic() + FAIL_TIMEOUT + 1
    index = 20_000
    while time.monotonic() < until:
        outcomes.append(vote_straight_away(index, site.balancer.port, choices[index % 3]))
        index += 1
    rows, counts = rise(before, site.counts(DemoPoll.slug))
    report = f"{summary(outcomes)}; rows {rows}, counts {counts}"

    assert stopping.process.wait(timeout=STOP_SECONDS) == 0, stopping.log()  # a clean stop
    watcher.join()
    assert rows == counts, report
    # Every accepted vote is counted. A vote whose request failed (a 502, a reset connection)
    # may or may not have been; nothing else may be.
    accepted = Counter(o.choice for o in outcomes if o.accepted)
    assert all(rows.get(choice, 0) >= n for choice, n in accepted.items()), report
    uncertain = sum(o.uncertain for o in outcomes)
    assert sum(accepted.values()) <= sum(rows.values()) <= sum(accepted.values()) + uncertain
    # The only server errors are nginx's 502 for requests the stopped server dropped.
    assert {s for o in outcomes for s in o.statuses if s >= 500} <= {HTTPStatus.BAD_GATEWAY}
    # nginx routes round the stopped server: every reader who came after it had gone got
    # every page and had their vote counted, through the other server.
    later = [o for o in outcomes if o.started > times["exited"]]
    assert len(later) >= FAILOVER_READERS // 4, report
    assert all(o.accepted and set(o.statuses) <= OK_ANSWERS for o in later), summary(later)
    print(
        f"stopped after {STOP_AFTER} readers; gone {times['exited'] - times['stop']:.1f} s later;"
        f" {len(later)} readers after; {report}"
    )
