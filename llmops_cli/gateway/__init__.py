"""The Policy Gateway: an OpenAI-compatible, policy-enforcing, streaming proxy (``llmops gateway serve``).

Only this package imports the web stack (uvicorn, httpx, prometheus-client, orjson); the CLI imports it
lazily.
"""
