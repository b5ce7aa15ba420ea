"""Opt-in/out synchronization (SPEC §6): the conflict rule, the change log and the workflow."""
