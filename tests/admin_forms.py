"""Admin forms in tests: what a browser would post, read from the page itself.

Posting what the page offers (every field, every inline's management form) keeps a test of
one field from breaking whenever a field or an inline is added to the form.
"""

import html
import re
from html.parser import HTMLParser


class _FormReader(HTMLParser):
    """Collects the values a browser would send from the form with the given id."""

    def __init__(self, form_id):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.data = []
        self._textarea = None  # [name, text] while inside a <textarea>
        self._select = None  # [name, first value, chosen values] while inside a <select>

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.in_form = attrs.get("id") == self.form_id
        if not self.in_form or "disabled" in attrs:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.data.append((name, attrs.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "textarea" and name:
            self._textarea = [name, ""]
        elif tag == "select" and name:
            # A single choice sends its first option when none is selected; a multiple, none.
            self._select = [name, None, [], "multiple" in attrs]
        elif tag == "option" and self._select is not None:
            value = attrs.get("value", "")
            if self._select[1] is None:
                self._select[1] = value
            if "selected" in attrs:
                self._select[2].append(value)

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_form = False
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            # Browsers drop the newline that follows <textarea>, as Django's template writes it.
            self.data.append((name, text.removeprefix("\r\n").removeprefix("\n")))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            name, first, chosen, multiple = self._select
            for value in chosen or ([first] if first is not None and not multiple else []):
                self.data.append((name, value))
            self._select = None


def form_data(response, form_id):
    """{name: value} (a list for repeated names) that the page's form `form_id` would post."""
    reader = _FormReader(form_id)
    reader.feed(response.content.decode())
    assert reader.data, f"no form with id {form_id!r} on the page"
    data = {}
    for name, value in reader.data:
        if name in data:
            data[name] = (
                [*data[name], value] if isinstance(data[name], list) else [data[name], value]
            )
        else:
            data[name] = value
    return data


def page_text(response):
    """The page's text as a person reads it: no tags, each run of spaces one space."""
    text = re.sub(r"<[^>]*>", " ", response.content.decode())
    return " ".join(html.unescape(text).split())
