"""What a reader sees of the results: percentages that add up, and the data for JSON."""


def percentages(counts):
    """Whole-number percentages of `counts` that add up to exactly 100.

    Largest remainder method, in integers: every share is rounded down, then the points still
    missing go to the shares that lost the most in rounding (ties to the earlier choice).
    With no votes at all, every share is 0.
    """
    total = sum(counts)
    if total == 0:
        return [0 for _ in counts]
    shares = [count * 100 // total for count in counts]
    remainders = [count * 100 % total for count in counts]
    by_remainder = sorted(range(len(counts)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[: 100 - sum(shares)]:
        shares[i] += 1
    return shares


def shares_of(count, voters):
    """`count` as a whole-number percentage of `voters`, rounded half up; 0 with no voters."""
    return (count * 200 + voters) // (voters * 2) if voters else 0


def results_data(poll, *, visible):
    """The poll's results, ready for JSON; where they are not `visible`, only the total."""
    return {
        "question": poll.question,
        # Voters (ballots). In a "check all that apply" poll a ballot may carry several answers:
        # `total_answers` counts them, and each answer's percent is its share of the voters.
        "total_votes": poll.total_votes,
        "total_answers": poll.answer_total if visible else None,
        "max_choices": poll.max_choices,
        "is_open": poll.is_open(),
        "results_visible": visible,
        # False for a poll whose results staff keep to themselves ("never").
        "results_published": poll.results_visibility != poll.ResultsVisibility.NEVER,
        "choices": [
            {
                "id": choice.pk,
                "text": choice.text,
                "votes": choice.votes if visible else None,
                "percent": percent if visible else None,
            }
            for choice, percent in poll.results()
        ],
    }


def voter_state(poll, ballot):
    """What one visitor may see of `poll`, with their own answers (`ballot` may be None)."""
    voted = ballot is not None
    return {
        **results_data(poll, visible=poll.results_visible_to(voted)),
        "voted": voted,
        "own_choices": ballot.choice_ids if voted else [],
    }
