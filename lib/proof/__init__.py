"""Proof tools: two-sided verification, stack drivers, worktrees, verdict statistics and the
mutation matrix. The top tier: may import the stack and harness tiers, nothing imports it."""
