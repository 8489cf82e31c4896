"""Renderers for governance results: Markdown, JUnit XML, canonical JSON, GitHub Actions output."""
