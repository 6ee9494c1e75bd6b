"""The hot path: what a turn goes through after it is encoded.

``_table`` (the route table and its immutable snapshots), ``_scoring`` (pure per-route
aggregation), ``_head`` (a fitted head's share of a route's score), ``_decide`` (argument checks
and the local decision), ``_remote_scoring`` (the same decision over a remote ANN search),
``_batcher`` (async micro-batching) and ``_threads`` (BLAS thread limits). Nothing here imports
the router, fitting (``fingerpost.quality``) or sync: they build on the engine, never the
other way round.
"""
