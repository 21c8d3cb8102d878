"""Helpers shared by the articles tests."""


def references_formset(*references):
    """The admin's reference rows, as the change form posts them."""
    data = {
        "references-TOTAL_FORMS": str(len(references)),
        "references-INITIAL_FORMS": "0",
        "references-MIN_NUM_FORMS": "0",
        "references-MAX_NUM_FORMS": "1000",
    }
    for n, reference in enumerate(references):
        data.update({f"references-{n}-{field}": value for field, value in reference.items()})
        data.setdefault(f"references-{n}-order", str(n + 1))
    return data
