"""Load the demo content: the seed article, its disclaimer, the Legal Statement and the polls.

Running it again changes nothing: records that exist are left as staff last edited them. The
one exception is demo text that was wrong when an earlier version loaded it and that no one has
edited since (see OUTDATED_DISCLAIMER_TEXT): it is replaced by the current text.
"""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from articles.models import Article, CrisisNotice, Disclaimer, LegalStatement, Topic
from polls.models import Poll

# The seed page gives the question but not the answers: these are plain ones. The poll
# starts with no votes rather than an invented split.
DEMO_POLL_QUESTION = "Are you currently taking or have you ever been prescribed anti-depressants?"
DEMO_POLL_CHOICES = ["Yes, currently", "Yes, in the past", "No, never"]

# A second poll, placed in the article's text, where readers may tick up to two answers: it
# shows a "check all that apply" poll and a poll inside the body (`[poll:slug]`).
DEMO_BODY_POLL_SLUG = "after-rejection"
DEMO_BODY_POLL_QUESTION = "When you feel rejected, what helps you most?"
DEMO_BODY_POLL_CHOICES = [
    "Talking with someone I trust",
    "Time on my own",
    "Exercise or time outdoors",
    "Support from a professional",
]
DEMO_BODY_POLL_MAX_CHOICES = 2

# Generic on purpose: staff localise it (the admin's help text says so); no number is invented.
DEMO_CRISIS_TEXT = "If you are in crisis, contact your local emergency number or a crisis line."

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"

# What earlier versions of this command loaded and no longer do, byte for byte: the seed's
# disclaimer with the site's name missing, which was also the whole Legal Statement. A record
# that still holds exactly this was never edited by staff, so it is brought up to date; one
# that differs by a character is theirs and is left alone.
OUTDATED_DISCLAIMER_TEXT = (
    "The information provided on the is designed to support, not replace, the relationship "
    "that exists between a patient/site visitor and his/her health professional. This "
    "information is solely for informational and educational purposes. The publication of this "
    "information does not constitute the practice of medicine, and this information does not "
    "replace the advice of your physician or other health care provider. Neither the owners or "
    "employees of nor the author(s) of site content take responsibility for any possible "
    "consequences from any treatment, procedure, exercise, dietary modification, action or "
    "application of medication which results from reading this site. Always speak with your "
    "primary health care provider before engaging in any form of self treatment."
)


def demo_text(name):
    return (DEMO_DIR / name).read_text(encoding="utf-8").strip()


class Command(BaseCommand):
    help = "Load the demo article, disclaimer, Legal Statement and poll (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options):
        self.load_disclaimer()
        self.load_legal_statement()
        topic, _ = Topic.objects.get_or_create(
            slug="depression", defaults={"name": "Depression", "is_sensitive": True}
        )
        article, created = Article.objects.get_or_create(
            slug="rejection-while-depressed",
            defaults={
                "title": "Rejection While Depressed: Why It’s So Painful",
                "summary": (
                    "Being rejected socially can be excruciatingly painful, especially for "
                    "people who are depressed."
                ),
                "body": f"{demo_text('rejection-while-depressed.md')}\n\n"
                f"[poll:{DEMO_BODY_POLL_SLUG}]",
                "photo_credit": "Luis Sarabia / flickr creative commons",
                "topic": topic,
                "status": Article.Status.PUBLISHED,
                "published_at": timezone.now(),
            },
        )
        if created:
            # The seed's source line, then the journal its text names.
            article.references.create(order=1, title="Brain Behavior Research Foundation")
            article.references.create(
                order=2,
                title="Molecular Psychiatry",
                note="The journal in which the research was published.",
            )
        verb = "Created" if created else "Kept"
        self.stdout.write(self.style.SUCCESS(f"{verb} the demo article “{article.title}”."))
        self.load_crisis_notice()
        self.load_poll()

    def load_crisis_notice(self):
        """A generic notice, for staff to localise; no helpline is named and no number invented."""
        _, created = CrisisNotice.objects.get_or_create(pk=1, defaults={"text": DEMO_CRISIS_TEXT})
        verb = "Created" if created else "Kept"
        self.stdout.write(self.style.SUCCESS(f"{verb} the crisis notice."))

    def load_disclaimer(self):
        text = demo_text("disclaimer.txt")
        Disclaimer.objects.get_or_create(
            name="Medical disclaimer",
            defaults={
                "text": text,
                "is_default": not Disclaimer.objects.filter(is_default=True).exists(),
            },
        )
        if Disclaimer.objects.filter(text=OUTDATED_DISCLAIMER_TEXT).update(text=text):
            self.stdout.write(self.style.SUCCESS("Put the site's name in the demo disclaimer."))

    def load_legal_statement(self):
        body = demo_text("legal-statement.md")
        legal_statement, created = LegalStatement.objects.get_or_create(
            pk=1, defaults={"title": "Legal Statement", "body": body}
        )
        if not created and legal_statement.body == OUTDATED_DISCLAIMER_TEXT:
            legal_statement.body = body
            legal_statement.save()  # renders the body again
            self.stdout.write(self.style.SUCCESS("Replaced the demo Legal Statement."))

    def load_poll(self):
        self.make_poll(
            "antidepressants",
            DEMO_POLL_CHOICES,
            question=DEMO_POLL_QUESTION,
            is_featured=not Poll.objects.filter(is_featured=True).exists(),
        )
        self.make_poll(
            DEMO_BODY_POLL_SLUG,
            DEMO_BODY_POLL_CHOICES,
            question=DEMO_BODY_POLL_QUESTION,
            max_choices=DEMO_BODY_POLL_MAX_CHOICES,
        )

    def make_poll(self, slug, choices, **fields):
        poll, created = Poll.objects.get_or_create(slug=slug, defaults=fields)
        if created:
            for order, text in enumerate(choices, start=1):
                poll.choices.create(text=text, order=order)
        verb = "Created" if created else "Kept"
        self.stdout.write(self.style.SUCCESS(f"{verb} the demo poll “{poll.question}”."))
