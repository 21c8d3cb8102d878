"""What search engines and sharing previews read about an article: schema.org data, image.

The dict built here is rendered by the `json_ld` filter (articles/templatetags/seo.py) in the
article's <head>. Addresses are absolute, made from the request, so a page served under
another host name names itself.
"""

SITE_NAME = "PsyWeb"


def lead_image_path(article):
    """The address (path) of the lead image at sharing size (960 px wide at most), or None."""
    if not article.image:
        return None
    try:
        return article.image_960.url
    except (OSError, ValueError):
        # The size could not be made (a missing or broken original): the original's address.
        return article.image.url


def date_modified(article):
    """When the article last changed for readers: its "Updated" date, else its publication."""
    return article.revised_at if article.was_revised() else article.published_at


def _person(request, contributor):
    person = {
        "@type": "Person",
        "name": contributor.name,
        "url": request.build_absolute_uri(contributor.get_absolute_url()),
    }
    if contributor.credentials:
        person["jobTitle"] = contributor.credentials
        person["description"] = contributor.credentials
    return person


def _citation(reference):
    work = {"@type": "CreativeWork", "name": reference.title}
    if reference.url:
        work["url"] = reference.url
    if reference.publisher:
        work["publisher"] = {"@type": "Organization", "name": reference.publisher}
    if reference.year:
        work["datePublished"] = str(reference.year)
    return work


def article_structured_data(article, request):
    """The article as a schema.org MedicalWebPage, as a dict ready for JSON-LD."""
    url = request.build_absolute_uri(article.get_absolute_url())
    data = {
        "@context": "https://schema.org",
        "@type": "MedicalWebPage",
        "headline": article.title,
        "name": article.title,
        "description": article.summary,
        "url": url,
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "publisher": {
            "@type": "Organization",
            "name": SITE_NAME,
            "url": request.build_absolute_uri("/"),
        },
    }
    if article.published_at:
        data["datePublished"] = article.published_at.isoformat()
        data["dateModified"] = date_modified(article).isoformat()
    image = lead_image_path(article)
    if image:
        data["image"] = request.build_absolute_uri(image)
    if article.author:
        data["author"] = _person(request, article.author)
    if article.medical_reviewer and article.last_reviewed:
        data["reviewedBy"] = _person(request, article.medical_reviewer)
        data["lastReviewed"] = article.last_reviewed.isoformat()
    citations = [_citation(reference) for reference in article.references.all()]
    if citations:
        data["citation"] = citations
    if article.topic:
        data["about"] = {"@type": "Thing", "name": article.topic.name}
    return data
