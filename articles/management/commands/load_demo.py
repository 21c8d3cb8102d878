"""Load the demo content: the seed article, its disclaimer, the Legal Statement and the poll.

Running it again changes nothing: records that exist are left as staff last edited them.
"""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from articles.models import Article, Disclaimer, LegalStatement, Topic
from polls.models import Poll

# The seed page gives the question but not the answers: these are plain ones. The poll
# starts with no votes rather than an invented split.
DEMO_POLL_QUESTION = "Are you currently taking or have you ever been prescribed anti-depressants?"
DEMO_POLL_CHOICES = ["Yes, currently", "Yes, in the past", "No, never"]

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


def demo_text(name):
    return (DEMO_DIR / name).read_text(encoding="utf-8").strip()


class Command(BaseCommand):
    help = "Load the demo article, disclaimer, Legal Statement and poll (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options):
        disclaimer_text = demo_text("disclaimer.txt")
        Disclaimer.objects.get_or_create(
            name="Medical disclaimer",
            defaults={
                "text": disclaimer_text,
                "is_default": not Disclaimer.objects.filter(is_default=True).exists(),
            },
        )
        LegalStatement.objects.get_or_create(
            pk=1, defaults={"title": "Legal Statement", "body": disclaimer_text}
        )
        topic, _ = Topic.objects.get_or_create(slug="depression", defaults={"name": "Depression"})
        article, created = Article.objects.get_or_create(
            slug="rejection-while-depressed",
            defaults={
                "title": "Rejection While Depressed: Why It’s So Painful",
                "summary": (
                    "Being rejected socially can be excruciatingly painful, especially for "
                    "people who are depressed."
                ),
                "body": demo_text("rejection-while-depressed.md"),
                "source_name": "Brain Behavior Research Foundation",
                "photo_credit": "Luis Sarabia / flickr creative commons",
                "topic": topic,
                "status": Article.Status.PUBLISHED,
                "published_at": timezone.now(),
            },
        )
        verb = "Created" if created else "Kept"
        self.stdout.write(self.style.SUCCESS(f"{verb} the demo article “{article.title}”."))
        self.load_poll()

    def load_poll(self):
        poll, created = Poll.objects.get_or_create(
            slug="antidepressants",
            defaults={
                "question": DEMO_POLL_QUESTION,
                "is_featured": not Poll.objects.filter(is_featured=True).exists(),
            },
        )
        if created:
            for order, text in enumerate(DEMO_POLL_CHOICES, start=1):
                poll.choices.create(text=text, order=order)
        verb = "Created" if created else "Kept"
        self.stdout.write(self.style.SUCCESS(f"{verb} the demo poll “{poll.question}”."))
