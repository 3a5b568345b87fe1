"""The config error every loader raises, apart from infra.config so that the modules
config validates with (infra.adopt) can raise it without importing config back."""


class ConfigError(ValueError):
    """A stage spec or environment profile is invalid; the message is one line."""
