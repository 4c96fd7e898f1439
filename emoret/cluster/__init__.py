"""Past one machine: embedding and reading emotions on a Ray cluster (Ray Data).

Decoding and frame sampling run in Ray tasks on CPUs, the model in a pool of actors
(one model each, a GPU each with ``device="cuda"``); the work is cut into shards of
items, each written by the actor that embedded it (:mod:`emoret.embedding.shards`).
Ray is an optional extra (``pip install 'emoret[ray]'``), imported only when a job runs.
"""
