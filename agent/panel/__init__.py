"""Panels and projectors in the agent: see ``agent.panel.service`` (bus adapter, commands,
usage API for lessons, automation) and docs/panels.md."""
