"""Plug-ins defined outside ``src/``, as a user or a third-party package would write them.

``docs/extending.md`` includes these files verbatim (``tests/docs/test_extending_doc.py`` checks that it does and
runs them), so each file is a complete, working example of one kind of plug-in.
"""
