"""Submit a rendered page's form the way a browser without JavaScript would: the controls that belong to the
button's form (by nesting or by the ``form`` attribute), the button's own name/value and ``formaction``."""

from __future__ import annotations

from html.parser import HTMLParser


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, dict] = {}
        self.controls: list[dict] = []
        self._open_form: str | None = None
        self._textarea: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            key = a.get("id") or f"form-{len(self.forms)}"
            self.forms[key] = a
            self._open_form = key
        elif tag in ("input", "button", "textarea"):
            control = {"tag": tag, **a, "owner": a.get("form") or self._open_form}
            if tag == "textarea":
                control["value"] = ""
                self._textarea = control
            self.controls.append(control)

    def handle_endtag(self, tag):
        if tag == "form":
            self._open_form = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            value = self._textarea["value"] + data
            # a browser drops one line break straight after <textarea>
            self._textarea["value"] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")


def submit(client, url: str, html: str, testid: str, typed: dict | None = None, files: dict | None = None):
    """Press the button ``data-testid=testid`` on ``html`` (served at ``url``) after typing ``typed``
    (field name -> value; for radios the chosen value) and choosing ``files`` (field name -> (stream, filename))."""
    parser = _Forms()
    parser.feed(html)
    button = next(c for c in parser.controls if c.get("data-testid") == testid)
    form = parser.forms[button["owner"]]
    data: dict[str, str] = {}
    for c in parser.controls:
        if c["owner"] != button["owner"] or not c.get("name") or c["tag"] == "button":
            continue
        kind = c.get("type", "text")
        if kind in ("submit", "button", "file"):
            continue
        if kind in ("radio", "checkbox") and "checked" not in c:
            continue
        data[c["name"]] = c.get("value", "on" if kind == "checkbox" else "")
    if button.get("name"):
        data[button["name"]] = button.get("value", "")
    data.update(typed or {})
    data.update(files or {})
    target = button.get("formaction") or form.get("action") or url
    enctype = form.get("enctype") or "application/x-www-form-urlencoded"
    return client.post(target, data=data, content_type=enctype)


def checked(html: str, name: str) -> str | None:
    """The value of the checked radio button called ``name``."""
    parser = _Forms()
    parser.feed(html)
    return next((c.get("value") for c in parser.controls if c.get("name") == name and "checked" in c), None)


def value(html: str, name: str) -> str | None:
    """What a text field or text area called ``name`` holds, as a browser would show it."""
    parser = _Forms()
    parser.feed(html)
    return next((c.get("value", "") for c in parser.controls if c.get("name") == name), None)
