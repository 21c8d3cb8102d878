"""Articles to read next, shown at the end of an article: same topic first, then shared words.

One query: the newest published candidates that share the topic or a title word, ranked here.
"""

import re

from django.db.models import Q

from .models import Article

# Shown at most, and looked through at most, per article.
RELATED_COUNT = 3
CANDIDATES = 50

# Short words and these common ones say nothing about what an article is about.
# fmt: off
STOP_WORDS = frozenset({
    "about", "after", "again", "also", "because", "been", "before", "being", "could", "does",
    "from", "have", "into", "just", "more", "most", "much", "only", "other", "over", "same",
    "should", "some", "such", "than", "that", "their", "them", "then", "there", "these", "they",
    "this", "those", "through", "very", "what", "when", "where", "which", "while", "will",
    "with", "without", "would", "your",
})
# fmt: on


def title_words(title):
    """The words of a title that can tie two articles together (lower case, 4 letters or more)."""
    return {
        word
        for word in re.findall(r"\w+", title.lower())
        if len(word) >= 4 and word not in STOP_WORDS
    }


def related_articles(article, count=RELATED_COUNT):
    """Up to `count` published articles, never `article`: same topic first, then shared words.

    Within each, the article sharing more title words comes first, then the newer.
    """
    words = title_words(article.title)
    match = Q(topic_id=article.topic_id) if article.topic_id else Q()
    for word in words:
        match |= Q(title__icontains=word)
    if not match:
        return []
    candidates = (
        Article.objects.published().for_listing().exclude(pk=article.pk).filter(match)[:CANDIDATES]
    )

    def rank(candidate):
        same_topic = article.topic_id is not None and candidate.topic_id == article.topic_id
        shared = len(words & title_words(candidate.title))
        return (same_topic, shared, candidate.published_at)

    ranked = sorted(((rank(c), c) for c in candidates), key=lambda pair: pair[0], reverse=True)
    # icontains also matches inside longer words ("mood" in "moody"): keep real matches only.
    return [c for (same_topic, shared, _), c in ranked if same_topic or shared][:count]
