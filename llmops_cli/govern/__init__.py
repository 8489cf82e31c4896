"""Governance as code: stages, CEL policies and hashed evidence bundles."""
