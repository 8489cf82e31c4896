"""Promotion to remote environments behind the governance gate."""
