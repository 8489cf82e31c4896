"""Governance at run time: release records, incidents and their reviews, review time.

The formats the cluster reads (release record, incident index) live in ``llmops_cli.riskdata``.
"""
