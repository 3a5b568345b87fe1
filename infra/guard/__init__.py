"""The offline guardrails: the CrossGuard pack run on plan files (`runner`) and the checks of
real values the typed SDK cannot catch (`checks` and its modules)."""
