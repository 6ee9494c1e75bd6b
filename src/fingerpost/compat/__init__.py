"""Compatibility layers for code written against other routers' APIs.

* :mod:`fingerpost.compat.semantic_router`: the part of semantic-router 0.1.x's public surface
  that real code uses (``SemanticRouter``, ``Route``, ``RouteChoice``, ``RouterConfig``,
  ``DenseEncoder``), running on fingerpost.
"""

from __future__ import annotations
