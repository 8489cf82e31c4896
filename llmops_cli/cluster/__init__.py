"""Bootstrap a cluster: host facts, a pure plan of idempotent steps, and their application."""
