"""URL rules whose URL builders are compiled when first used.

Werkzeug compiles two Python functions per rule (with ``ast`` and ``compile``) to build its URLs as soon as the
rule is added; with ~300 rules that was a third of what building the app costs (every worker start, every test).
Most rules are never built in a given process (a JSON API rule is matched, not built), so each builder is compiled
on the first ``url_for`` that needs it, by werkzeug's own code; matching is untouched.
"""

from __future__ import annotations

from werkzeug.routing import Rule


class LazyBuilderRule(Rule):
    def _compile_builder(self, append_unknown: bool = True):
        compiled = None

        def build(rule, **values):
            nonlocal compiled
            if compiled is None:
                compiled = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            return compiled(**values)

        return build
