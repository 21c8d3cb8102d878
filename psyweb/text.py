"""Text that staff paste in: kept without the control characters that come along with it.

Word and other editors put control characters into copied text (a vertical tab for a line
break, form feeds, the odd NUL). No reader needs them, pages show them as garbage, XML 1.0
forbids them (one in a title made the RSS feed a 500) and PostgreSQL refuses NUL.
"""

import re

from django import forms
from django.utils.datastructures import MultiValueDict

# C0 and C1 control characters (Unicode category Cc) but tab, line feed and carriage return;
# and U+FFFE and U+FFFF, which are not characters at all. XML 1.0 allows none of the C0 ones
# nor these two, so text without them can go into a feed.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# Of those, the ones that break a line: Word's vertical tab (Shift+Enter), form feed (a page
# break) and NEL. They become a space, so that the words on either side stay apart. (Not a
# line feed: a browser drops those from a one-line field, gluing the words on the next save.)
LINE_BREAKS = re.compile("[\x0b\x0c\x85]")


def strip_control_characters(text):
    """`text` without control characters; those that break a line become a space."""
    return CONTROL_CHARACTERS.sub("", LINE_BREAKS.sub(" ", text))


def _stripped(value):
    return strip_control_characters(value) if isinstance(value, str) else value


class PlainTextModelForm(forms.ModelForm):
    """A ModelForm that takes the control characters out of everything it is sent.

    They are removed before any field reads the data, so a pasted text is kept as the editor
    sees it, rather than refused with a message about characters they cannot see. Used as the
    admin's `form` for every model whose text staff type.
    """

    def __init__(self, data=None, *args, **kwargs):
        if isinstance(data, MultiValueDict):  # a request's QueryDict, which is immutable
            data = data.copy()
            for key, values in list(data.lists()):
                data.setlist(key, [_stripped(value) for value in values])
        elif data is not None:
            data = {key: _stripped(value) for key, value in data.items()}
        super().__init__(data, *args, **kwargs)
