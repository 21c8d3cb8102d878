from django import template

from articles.related import related_articles as find_related_articles

register = template.Library()


@register.simple_tag
def related_articles(article):
    """Up to three published articles to read next (articles/related.py)."""
    return find_related_articles(article)
