"""The HTTP API and the operations console (``checkctl serve``).

It calls the same service layer as the command line (``checks.api.CheckService`` and
``checks.tokens.TokenService`` from the process's runtime), so the two cannot disagree.
"""

from web.app import create_app

__all__ = ["create_app"]
