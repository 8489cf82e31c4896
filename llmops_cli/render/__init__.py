"""Render Settings into the GitOps tree Argo CD syncs."""
