"""Related articles at the end of an article: same topic first, then shared title words."""

import datetime

import pytest
from pytest_django.asserts import assertContains, assertNotContains

from articles.models import Article, Topic
from articles.related import related_articles

pytestmark = pytest.mark.django_db


def titles(articles):
    return [article.title for article in articles]


def test_articles_on_the_same_topic_come_first_then_those_sharing_title_words(
    make_article, topic, now
):
    sleep = Topic.objects.create(name="Sleep", slug="sleep")
    article = make_article(title="Rejection while depressed", topic=topic)
    make_article(title="Sleep and rejection", topic=sleep, published_at=now)
    make_article(
        title="Old news on depression", topic=topic, published_at=now - datetime.timedelta(days=9)
    )
    make_article(title="Unrelated gardening tips", topic=sleep)
    make_article(
        title="New on depression", topic=topic, published_at=now - datetime.timedelta(days=1)
    )

    assert titles(related_articles(article)) == [
        "New on depression",  # same topic, newer
        "Old news on depression",  # same topic
        "Sleep and rejection",  # another topic, shares "rejection"
    ]


def test_more_shared_words_rank_higher_and_at_most_three_are_shown(make_article, now):
    article = make_article(title="Panic attacks at night: what helps")
    make_article(title="Panic at work", published_at=now)
    make_article(
        title="Night panic attacks in teenagers", published_at=now - datetime.timedelta(days=5)
    )
    make_article(title="Attacks of panic", published_at=now - datetime.timedelta(days=1))
    make_article(title="Night owls", published_at=now - datetime.timedelta(days=2))
    make_article(title="Panicky? Nightly?", published_at=now)  # only inside longer words

    assert titles(related_articles(article)) == [
        "Night panic attacks in teenagers",  # three words
        "Attacks of panic",  # two words
        "Panic at work",  # one, newest of those with one
    ]


def test_never_the_article_itself_drafts_or_scheduled_articles(make_article, topic, now):
    article = make_article(title="Depression basics", topic=topic)
    make_article(title="Depression draft", topic=topic, status=Article.Status.DRAFT)
    make_article(
        title="Depression tomorrow", topic=topic, published_at=now + datetime.timedelta(days=1)
    )

    assert related_articles(article) == []


def test_a_word_inside_a_longer_word_is_not_shared(make_article):
    article = make_article(title="Mood tracking")
    make_article(title="Moody blues")  # found by the database's "contains", dropped after
    assert related_articles(article) == []


def test_an_article_with_nothing_in_common_has_no_related_section(client, make_article):
    article = make_article(title="On being")  # no topic and only common or short words
    make_article(title="On being kind")
    assert related_articles(article) == []
    assertNotContains(client.get(article.get_absolute_url()), "Related articles")


def test_the_article_page_links_its_related_articles(client, make_article, topic):
    article = make_article(title="Rejection while depressed", topic=topic)
    other = make_article(
        title="Depression & <b>sleep</b>", topic=topic, summary="Why sleep matters."
    )
    response = client.get(article.get_absolute_url())
    assertContains(response, '<h2 id="related-title">Related articles</h2>', html=True)
    assertContains(
        response,
        f'<a href="{other.get_absolute_url()}">Depression &amp; &lt;b&gt;sleep&lt;/b&gt;</a>',
        html=True,
    )
    assertContains(response, "<p>Why sleep matters.</p>", html=True)
