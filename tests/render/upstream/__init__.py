"""Upstream contract facts: small tables of names read from each pinned upstream release's source.

Every fact names the repository, the tag and the file it was read from; nothing here is copied upstream code
or text, only names (flags, environment variables, metric names, values paths, CRD versions). The tests in
tests/render/test_upstream_contract.py hold the rendered tree to the table of the release each pin names, and
look tables up by the exact pinned version: bumping a pin in llmops_cli/versions.py without reading and
recording the new release's facts fails the suite.
"""
