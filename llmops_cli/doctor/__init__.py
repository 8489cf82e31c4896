"""Host checks for `llmops doctor`."""
