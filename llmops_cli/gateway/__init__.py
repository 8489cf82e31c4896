"""The Policy Gateway: an OpenAI-compatible, policy-enforcing proxy."""
