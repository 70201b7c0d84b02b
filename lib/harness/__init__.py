"""The pytest harness: everything a case run loads (plugin, config, REST runtime, path check,
reports, case helpers). Imports only the shared leaves in `lib/`, never the stack or proof tiers."""
