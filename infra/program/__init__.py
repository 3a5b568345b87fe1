"""The Pulumi program: composer (a stage from its config), tags, components/."""
