"""Test support shipped with the gateway: a fake OpenAI-compatible upstream and a threaded server runner."""
