"""Charts for staff, drawn as SVG by the site itself: no script, nothing from another site."""

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

WIDTH, HEIGHT, GAP = 720, 160, 1


def ballots_chart(days):
    """A bar chart of [(date, ballots)], with the same figures as a table for screen readers
    and for copying. Empty polls get a sentence instead."""
    if not days:
        return "No ballots yet."
    most = max(count for _, count in days) or 1
    step = WIDTH / len(days)
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        (
            (
                f"{n * step:.2f}",
                f"{HEIGHT - count * HEIGHT / most:.2f}",
                f"{max(step - GAP, 0.5):.2f}",
                f"{count * HEIGHT / most:.2f}",
                date_format(day, "j M Y"),
                count,
            )
            for n, (day, count) in enumerate(days)
        ),
    )
    rows = format_html_join(
        "",
        '<tr><td><time datetime="{}">{}</time></td><td>{}</td></tr>',
        ((day.isoformat(), date_format(day, "j F Y"), count) for day, count in days),
    )
    first, last = days[0][0], days[-1][0]
    total = sum(count for _, count in days)
    summary = (
        f"Ballots per day from {date_format(first, 'j F Y')} to {date_format(last, 'j F Y')}: "
        f"{total} in all, at most {most} in a day."
    )
    return format_html(
        '<figure class="ballots-chart">'
        '<svg viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}" '
        'preserveAspectRatio="none" fill="#417690">{}'
        '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="#666" stroke-width="1"/></svg>'
        "<figcaption>{}</figcaption>"
        "<details><summary>The figures, day by day</summary>"
        '<table><thead><tr><th scope="col">Day</th><th scope="col">Ballots</th></tr></thead>'
        "<tbody>{}</tbody></table></details>"
        "<p>Ballots are counted per day and poll, never per answer: a count per answer on a "
        "quiet day, set beside a server log, could tell what somebody answered. Ballots "
        "removed by staff stay in their day's count.</p>"
        "</figure>",
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        summary,
        bars,
        HEIGHT,
        WIDTH,
        HEIGHT,
        summary,
        rows,
    )
