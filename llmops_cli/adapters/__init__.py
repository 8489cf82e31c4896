"""The only modules that import plumbum, kubernetes and git tooling. Third-party errors are translated here
into :mod:`llmops_cli.errors` types (``raise … from e``)."""
