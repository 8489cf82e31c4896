"""Evaluate a served LLM (any OpenAI-compatible endpoint) for bias, safety, leakage and grounding.

The engine is four steps, each its own module: ``suite`` (YAML probes, validated with file:line errors),
``plan`` (the requests every probe expands to: paraphrases, demographic variants, contexts), ``client``
(bounded concurrent HTTP with retries; httpx imported when a run starts) and ``score`` (rules first, then an
optional judge; rates with design-effect-corrected intervals). ``score`` never touches the network, so the
metrics of a recorded transcript are recomputed exactly in tests.
"""
