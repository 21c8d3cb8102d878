"""What search engines and sharing previews read from an article page, and its share links."""

import datetime
import io
import json
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from articles.models import Article, Contributor

pytestmark = pytest.mark.django_db

BASE = "http://testserver"


class HeadReader(HTMLParser):
    """The page's <meta>, <link> and <script> elements (attributes, and the scripts' text)."""

    def __init__(self):
        super().__init__()
        self.metas, self.links, self.anchors, self.scripts = {}, [], [], []
        self._script = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and ("property" in attrs or "name" in attrs):
            self.metas[attrs.get("property") or attrs["name"]] = attrs.get("content")
        elif tag == "link":
            self.links.append(attrs)
        elif tag == "a":
            self.anchors.append(attrs)
        elif tag == "script":
            self._script = {**attrs, "text": ""}
            self.scripts.append(self._script)

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def read(response):
    reader = HeadReader()
    reader.feed(response.content.decode())
    return reader


def json_ld(response):
    scripts = [s for s in read(response).scripts if s.get("type") == "application/ld+json"]
    assert len(scripts) == 1, scripts
    return json.loads(scripts[0]["text"])


def canonical(response):
    return [link["href"] for link in read(response).links if link.get("rel") == "canonical"]


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def png_upload(width=2000, height=1000):
    image = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(image, format="PNG")
    return SimpleUploadedFile("brain.png", image.getvalue(), content_type="image/png")


@pytest.fixture
def reviewed_article(make_article, topic, now):
    author = Contributor.objects.create(
        name="Dr Ada Lovelace", slug="ada", credentials="PhD, clinical psychologist"
    )
    reviewer = Contributor.objects.create(name="Sam Okafor", slug="sam-okafor", credentials="MD")
    article = make_article(
        title="Rejection while depressed",
        summary="Why rejection hurts more when you are depressed.",
        topic=topic,
        author=author,
        medical_reviewer=reviewer,
        last_reviewed=datetime.date(2026, 3, 2),
        published_at=now - datetime.timedelta(days=10),
        revised_at=now - datetime.timedelta(days=2),
    )
    article.references.create(
        order=1,
        title="Depression and social pain",
        url="https://journal.example/social-pain",
        publisher="Journal of Affective Disorders",
        year=2021,
    )
    article.references.create(order=2, title="A book without a link")
    return article


# Canonical link, Open Graph and Twitter cards


def test_an_article_names_its_canonical_address_and_its_open_graph_preview(
    client, reviewed_article
):
    response = client.get(reviewed_article.get_absolute_url(), {"utm_source": "x"})
    url = BASE + reviewed_article.get_absolute_url()
    metas = read(response).metas

    assert canonical(response) == [url]
    assert metas["og:type"] == "article"
    assert metas["og:site_name"] == "PsyWeb"
    assert metas["og:title"] == "Rejection while depressed"
    assert metas["og:description"] == "Why rejection hurts more when you are depressed."
    assert metas["og:url"] == url
    assert "og:image" not in metas
    assert metas["twitter:card"] == "summary"
    assert metas["twitter:title"] == "Rejection while depressed"


def test_an_article_with_a_lead_image_shares_it_as_a_large_card(client, make_article, media_root):
    article = make_article(image=png_upload(), image_alt="A brain scan")
    metas = read(client.get(article.get_absolute_url())).metas

    image = metas["og:image"]
    assert image.startswith(BASE + "/media/")
    assert (media_root / image.removeprefix(BASE + "/media/")).is_file()
    with Image.open(media_root / image.removeprefix(BASE + "/media/")) as shared:
        assert shared.width == 960  # the sharing size, not the 2000 px original
    assert metas["og:image:alt"] == "A brain scan"
    assert metas["twitter:card"] == "summary_large_image"
    assert metas["twitter:image"] == image


def test_preview_texts_are_escaped_in_their_attributes(client, make_article):
    article = make_article(title='Mood "swings" <b>&</b>', summary='"><script>alert(1)</script>')
    response = client.get(article.get_absolute_url())
    metas = read(response).metas
    assert metas["og:title"] == 'Mood "swings" <b>&</b>'
    assert metas["og:description"] == '"><script>alert(1)</script>'
    assert "<script>alert(1)" not in response.text


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("home", "/"),
        ("topic", "/topics/depression/"),
        ("author", "/authors/ada/"),
        ("legal", "/legal/"),
    ],
)
def test_reader_pages_name_their_canonical_address(client, reviewed_article, name, path):
    from articles.models import LegalStatement

    LegalStatement.objects.create(body="Terms.")
    response = client.get(path, {"utm_source": "newsletter"})
    assert canonical(response) == [BASE + path]


def test_the_second_page_of_a_list_is_its_own_canonical_address(client, make_article, settings):
    for _ in range(settings.ARTICLES_PER_PAGE + 1):
        make_article()
    assert canonical(client.get("/", {"page": 2})) == [BASE + "/?page=2"]


def test_a_poll_page_names_its_canonical_address(client, poll):
    response = client.get(poll.get_absolute_url(), {"ref": "x"})
    assert canonical(response) == [BASE + poll.get_absolute_url()]


# JSON-LD


def test_an_article_describes_itself_as_a_medical_web_page_in_json_ld(client, reviewed_article):
    article = reviewed_article
    url = BASE + article.get_absolute_url()
    data = json_ld(client.get(article.get_absolute_url()))

    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "MedicalWebPage"
    assert data["headline"] == "Rejection while depressed"
    assert data["description"] == "Why rejection hurts more when you are depressed."
    assert data["url"] == url
    assert data["mainEntityOfPage"] == {"@type": "WebPage", "@id": url}
    assert data["datePublished"] == article.published_at.isoformat()
    assert data["dateModified"] == article.revised_at.isoformat()  # it was revised
    assert data["author"] == {
        "@type": "Person",
        "name": "Dr Ada Lovelace",
        "url": BASE + "/authors/ada/",
        "jobTitle": "PhD, clinical psychologist",
        "description": "PhD, clinical psychologist",
    }
    assert data["reviewedBy"] == {
        "@type": "Person",
        "name": "Sam Okafor",
        "url": BASE + "/authors/sam-okafor/",
        "jobTitle": "MD",
        "description": "MD",
    }
    assert data["lastReviewed"] == "2026-03-02"
    assert data["citation"] == [
        {
            "@type": "CreativeWork",
            "name": "Depression and social pain",
            "url": "https://journal.example/social-pain",
            "publisher": {"@type": "Organization", "name": "Journal of Affective Disorders"},
            "datePublished": "2021",
        },
        {"@type": "CreativeWork", "name": "A book without a link"},
    ]
    assert data["publisher"] == {"@type": "Organization", "name": "PsyWeb", "url": BASE + "/"}
    assert "image" not in data


def test_json_ld_of_a_plain_article_leaves_out_what_it_does_not_have(client, make_article, now):
    # "Updated" set before publication is not a revision: dateModified is the publication date.
    article = make_article(revised_at=now - datetime.timedelta(days=3))
    data = json_ld(client.get(article.get_absolute_url()))
    assert data["dateModified"] == data["datePublished"] == article.published_at.isoformat()
    for absent in ("author", "reviewedBy", "lastReviewed", "citation", "image"):
        assert absent not in data


def test_json_ld_names_the_lead_image_by_its_absolute_address(client, make_article, media_root):
    article = make_article(image=png_upload(), image_alt="A brain scan")
    response = client.get(article.get_absolute_url())
    assert json_ld(response)["image"] == read(response).metas["og:image"]


def test_no_text_in_the_article_can_break_out_of_the_json_ld(client, make_article):
    title = "</script><script>alert(1)</script> & <!--"
    article = make_article(title=title, summary="</SCRIPT >x")
    article.references.create(title="</script><img src=x onerror=alert(2)>", publisher="<b>")
    response = client.get(article.get_absolute_url())

    data = json_ld(response)  # one JSON-LD script, whose text is the whole JSON
    assert data["headline"] == title
    assert data["description"] == "</SCRIPT >x"
    assert data["citation"][0]["name"] == "</script><img src=x onerror=alert(2)>"
    scripts = read(response).scripts
    assert [s.get("type") for s in scripts if "src" not in s] == ["application/ld+json"]
    assert "<script>alert(1)" not in response.text
    assert "<img src=x" not in response.text


def test_a_preview_of_a_draft_carries_its_json_ld_too(admin_client, make_article):
    article = make_article(status=Article.Status.DRAFT, title="Draft")
    data = json_ld(admin_client.get(article.get_absolute_url()))
    assert data["headline"] == "Draft"
    assert "datePublished" not in data


# Share links


def share_links(response):
    return {a["href"]: a for a in read(response).anchors if a.get("href")}


def test_an_article_has_plain_share_links_with_its_address_and_title(client, make_article):
    article = make_article(title="Sleep & mood: a guide?", slug="sleep-and-mood")
    url = BASE + "/articles/sleep-and-mood/"
    response = client.get(article.get_absolute_url())
    links = share_links(response)

    def one(prefix):
        (href,) = [h for h in links if h.startswith(prefix)]
        return href, parse_qs(urlsplit(href).query)

    href, query = one("mailto:")
    assert query == {"subject": ["Sleep & mood: a guide?"], "body": [url]}
    href, query = one("https://www.facebook.com/sharer/sharer.php?")
    assert query == {"u": [url]}
    # Encoded whole, so the networks read it as one value.
    assert href.endswith("?u=http%3A%2F%2Ftestserver%2Farticles%2Fsleep-and-mood%2F")
    assert links[href]["rel"] == "noopener noreferrer"
    href, query = one("https://twitter.com/intent/tweet?")
    assert query == {"url": [url], "text": ["Sleep & mood: a guide?"]}
    assert links[href]["rel"] == "noopener noreferrer"
    href, query = one("https://www.linkedin.com/sharing/share-offsite/?")
    assert query == {"url": [url]}
    assert links[href]["rel"] == "noopener noreferrer"
    href, query = one("https://wa.me/?")
    assert query == {"text": [f"Sleep & mood: a guide? {url}"]}
    assert links[href]["rel"] == "noopener noreferrer"
    assert '<a href="http://testserver/articles/sleep-and-mood/">Link to this article</a>' in (
        response.text
    )


def test_share_links_load_nothing_from_the_networks(client, make_article):
    response = client.get(make_article().get_absolute_url())
    page = response.content.decode()
    for network in ("facebook.com", "twitter.com", "linkedin.com", "wa.me"):
        # Only inside the share links' href, never as a script, image, frame or style.
        assert page.count(network) == 1
    reader = read(response)
    assert all(s.get("src", "").startswith("/static/") for s in reader.scripts if "src" in s), (
        reader.scripts
    )


def test_the_article_page_query_count_is_unchanged_by_sharing_metadata(
    client, reviewed_article, default_disclaimer, django_assert_max_num_queries
):
    # The article with its topic, poll and people; its references; the featured poll; the
    # default disclaimer; the related articles; the header's topics: the JSON-LD reuses the
    # prefetched references.
    with django_assert_max_num_queries(6):
        response = client.get(reviewed_article.get_absolute_url())
    assert len(json_ld(response)["citation"]) == 2


def test_the_author_page_is_linked_with_reverse(reviewed_article):
    assert reverse("articles:author", kwargs={"slug": "ada"}) == "/authors/ada/"
