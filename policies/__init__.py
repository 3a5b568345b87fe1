"""The CrossGuard policy pack; the rules live in ``policies.rules`` (import that, not the pack)."""
