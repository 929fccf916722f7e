"""cpcompile: Custom Personalization destinations as code.

Kept import-light on purpose: services import ``cpcompile.runtime`` on every replica, and that
must not drag in pydantic, ruamel, jinja2 or click.
"""

__version__ = "0.1.0"
