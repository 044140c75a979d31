"""Example evrt plugin package; its node types are declared in pyproject's `evrt.nodes` entry points."""
