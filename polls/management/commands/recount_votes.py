"""Check every choice's vote count against the ballots stored for it, and repair any drift."""

from django.core.management.base import BaseCommand, CommandError

from polls.models import Poll
from polls.services import recount


class Command(BaseCommand):
    help = (
        "Compare each choice's vote count with its Vote rows, report any drift and repair it. "
        "With --check, only report, and exit with status 1 if anything drifted."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Only these polls (default: all).")
        parser.add_argument(
            "--check", action="store_true", help="Report drift without repairing it."
        )

    def handle(self, *args, slugs, check, **options):
        polls = Poll.objects.filter(slug__in=slugs) if slugs else Poll.objects.all()
        if slugs and polls.count() != len(set(slugs)):
            found = set(polls.values_list("slug", flat=True))
            raise CommandError(f"No poll with slug: {', '.join(sorted(set(slugs) - found))}")
        drifted = recount(polls, repair=not check)
        for choice, counted, rows in drifted:
            self.stdout.write(
                f"“{choice.poll}” / “{choice.text}”: count {counted}, ballots {rows} "
                f"({rows - counted:+d})" + ("" if check else ", repaired")
            )
        if not drifted:
            self.stdout.write(self.style.SUCCESS("Every count matches its ballots."))
        elif check:
            raise CommandError(f"{len(drifted)} count(s) drifted; run without --check to repair.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Repaired {len(drifted)} count(s)."))
