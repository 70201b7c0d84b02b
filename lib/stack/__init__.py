"""Stack operations: bring a stack up (bootstrap), run its services, hold its secrets and env
files, provision it (fixture setup), tear it down. May import the harness tier, never proof."""
