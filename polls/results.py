"""Turning counts into percentages that a reader can add up."""


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
