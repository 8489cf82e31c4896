"""Host readiness checks (`llmops doctor`)."""
