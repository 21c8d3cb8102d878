import re
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils.html import escape
from pytest_django.asserts import assertContains

from articles.management.commands.load_demo import OUTDATED_DISCLAIMER_TEXT, demo_text
from articles.models import Article, CrisisNotice, Disclaimer, LegalStatement
from polls.models import Poll

pytestmark = pytest.mark.django_db

TERMS = [
    "Information, not advice",
    "No doctor–patient relationship",
    "In an emergency",
    "Content and copyright",
    "Links to other sites",
    "Polls",
    "Privacy",
    "Changes to these terms",
]


def counts():
    return (
        Article.objects.count(),
        Disclaimer.objects.count(),
        LegalStatement.objects.count(),
    )


def test_load_demo_publishes_the_seed_article(client):
    call_command("load_demo", verbosity=0)
    article = Article.objects.published().get()
    response = client.get(article.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    text = response.text
    assert "Rejection While Depressed: Why It’s So Painful</h1>" in text
    assert (
        '<h2 id="section-natural-opioids-and-depression">Natural Opioids and Depression</h2>'
        in text
    )
    assert '<h2 id="section-less-social-motivation">Less Social Motivation</h2>' in text
    assert "<li>Only the non-depressed participants had an increased desire" in text
    assert "<blockquote>\n<p>“Altered opioid activity in depression" in text
    assert "Brain Behavior Research Foundation" in text
    assert "Luis Sarabia / flickr creative commons" in text
    assert "does not constitute the practice of medicine" in text
    assert f'<a href="{reverse("articles:legal")}">Legal Statement</a>' in text


def test_load_demo_makes_the_seed_disclaimer_the_site_default():
    call_command("load_demo", verbosity=0)
    assert "does not replace the advice of your physician" in Disclaimer.objects.default().text


def test_load_demo_writes_the_legal_statement(client):
    call_command("load_demo", verbosity=0)
    response = client.get(reverse("articles:legal"))
    assert response.status_code == HTTPStatus.OK
    assert "Legal Statement</h1>" in response.text


def test_load_demo_twice_changes_nothing():
    call_command("load_demo", verbosity=0)
    first = counts()
    article = Article.objects.get()
    call_command("load_demo", verbosity=0)
    assert counts() == first == (1, 1, 1)
    assert Article.objects.get().published_at == article.published_at


def test_load_demo_keeps_what_staff_edited():
    call_command("load_demo", verbosity=0)
    Article.objects.update(title="Edited by staff")
    call_command("load_demo", verbosity=0)
    assert Article.objects.get().title == "Edited by staff"


def test_load_demo_leaves_an_existing_default_disclaimer_in_place(default_disclaimer):
    call_command("load_demo", verbosity=0)
    assert Disclaimer.objects.default() == default_disclaimer


def test_the_demo_disclaimer_names_the_site():
    text = demo_text("disclaimer.txt")
    assert "The information provided on the PsyWeb website is designed to support" in text
    assert "Neither the owners or employees of PsyWeb nor the author(s)" in text
    assert "on the is" not in text
    assert "of nor" not in text


def test_the_outdated_text_is_the_old_demo_disclaimer_with_its_gaps():
    # Byte for byte what earlier versions loaded: the current text, the site's name taken out.
    old = (
        demo_text("disclaimer.txt")
        .replace("provided on the PsyWeb website is", "provided on the is")
        .replace("employees of PsyWeb nor", "employees of nor")
    )
    assert old == OUTDATED_DISCLAIMER_TEXT


def test_the_demo_legal_statement_opens_with_the_disclaimer_then_the_terms(client):
    call_command("load_demo", verbosity=0)
    legal = LegalStatement.objects.get()
    disclaimer = Disclaimer.objects.default().text
    assert legal.body != disclaimer
    assert legal.body_html.startswith(
        '<h2 id="section-medical-disclaimer">Medical disclaimer</h2>\n'
        f"<p>{escape(disclaimer)}</p>\n"
        '<h2 id="section-terms-of-use">Terms of use</h2>'
    )
    response = client.get(reverse("articles:legal"))
    for heading in TERMS:
        assert re.search(rf'<h3 id="section-[a-z-]+">{heading}</h3>', response.text), heading
    text = " ".join(response.text.split())
    assert "call your local emergency number" in text
    assert "does not create a doctor–patient relationship" in text
    assert "anonymous reader polls" in text
    assert "not scientific surveys" in text


def test_the_demo_legal_statement_links_to_the_privacy_page(client):
    call_command("load_demo", verbosity=0)
    response = client.get(reverse("articles:legal"))
    link = f'<a href="{reverse("privacy")}" rel="noopener noreferrer">privacy page</a>'
    assertContains(response, link, html=True, count=2)
    assert client.get(reverse("privacy")).status_code == HTTPStatus.OK


def test_the_demo_legal_statement_invents_no_address_or_phone_number():
    body = demo_text("legal-statement.md")
    assert not re.search(r"\d", body)  # no street number, postcode or phone number
    assert "@" not in body  # no e-mail address


def test_load_demo_replaces_the_old_copies_of_the_gapped_disclaimer():
    # A database loaded by an earlier version, untouched since.
    LegalStatement.objects.create(title="Legal Statement", body=OUTDATED_DISCLAIMER_TEXT)
    Disclaimer.objects.create(
        name="Medical disclaimer", text=OUTDATED_DISCLAIMER_TEXT, is_default=True
    )
    call_command("load_demo", verbosity=0)

    legal = LegalStatement.objects.get()
    assert legal.title == "Legal Statement"
    assert legal.body == demo_text("legal-statement.md")
    assert f'href="{reverse("privacy")}"' in legal.body_html  # rendered again
    assert Disclaimer.objects.get().text == demo_text("disclaimer.txt")
    assert Disclaimer.objects.default().name == "Medical disclaimer"


@pytest.mark.parametrize(
    "edited",
    [
        OUTDATED_DISCLAIMER_TEXT + " Edited by staff.",
        OUTDATED_DISCLAIMER_TEXT.replace("on the is", "on this site is"),
        " " + OUTDATED_DISCLAIMER_TEXT,
    ],
    ids=["added-to", "gap-filled-by-staff", "one-space"],
)
def test_load_demo_keeps_a_legal_statement_and_a_disclaimer_that_staff_edited(edited):
    LegalStatement.objects.create(title="Legal Statement", body=edited)
    Disclaimer.objects.create(name="Medical disclaimer", text=edited, is_default=True)
    call_command("load_demo", verbosity=0)
    assert LegalStatement.objects.get().body == edited
    assert Disclaimer.objects.get().text == edited


def test_load_demo_again_keeps_the_legal_statement_as_staff_edited_it():
    call_command("load_demo", verbosity=0)
    legal = LegalStatement.objects.get()
    legal.body = "Our own terms."
    legal.save()
    Disclaimer.objects.update(text="Our own disclaimer.")
    call_command("load_demo", verbosity=0)
    assert LegalStatement.objects.get().body == "Our own terms."
    assert Disclaimer.objects.get().text == "Our own disclaimer."


def test_the_demo_cites_its_source_and_journal_and_offers_crisis_help_without_a_number(client):
    call_command("load_demo", verbosity=0)
    article = Article.objects.get(slug="rejection-while-depressed")

    assert [(r.order, r.title) for r in article.references.all()] == [
        (1, "Brain Behavior Research Foundation"),
        (2, "Molecular Psychiatry"),
    ]
    assert article.topic.is_sensitive
    notice = CrisisNotice.objects.get()
    assert notice.helpline_number == ""
    assert not re.search(r"\d", notice.text)
    page = client.get(article.get_absolute_url())
    assertContains(page, "Source:")
    assertContains(page, notice.text)
    assertContains(page, 'href="#ref-2"')  # the body cites the journal
    assert article.author is None  # the seed names no author; none is invented
    assert article.medical_reviewer is None


def test_the_demo_places_a_check_all_that_apply_poll_in_the_article_text(client):
    call_command("load_demo", verbosity=0)
    article = Article.objects.get(slug="rejection-while-depressed")
    text = client.get(article.get_absolute_url()).text
    body = text[
        text.index('<div class="article-body">') : text.index('<footer class="article-footer">')
    ]
    assert 'aria-label="PsyWeb Poll: When you feel rejected, what helps you most?"' in body
    assert "Choose all that apply, up to 2." in body
    assert body.count('type="checkbox" name="choice"') == 4
    # The seed's poll keeps its box beside the article.
    beside = text[text.index('<footer class="article-footer">') :]
    assert "Are you currently taking or have you ever been prescribed anti-depressants?" in beside
    assert Poll.objects.get(slug="after-rejection").max_choices == 2
