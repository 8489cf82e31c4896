"""llmops: a governed LLM platform on Kubernetes, from a laptop to cloud VMs."""

__version__ = "0.1.0"
