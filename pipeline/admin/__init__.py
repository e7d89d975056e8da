"""The admin HTTP API behind the shop CMS's Customer Groups page, served by the worker itself.

Why inside the worker, on Faust's own web server (``faust.web``, aiohttp),
rather than a separate ASGI app:

* **The profiles are here.** "Why is this customer in group 12?" and "how
  many would this draft rule take in?" must read the live profile table, which
  exists only inside the worker processes (in memory or RocksDB, partitioned).
  A separate app would need its own copy of the table or an RPC to the workers.
* **Routing comes free.** ``app.table_route`` sends a per-subject request to the
  worker that owns that subject's partition, using the URLs the workers
  advertise to each other in Faust's partition assignment; that machinery is
  part of ``faust.web``. (Faust's ASGI bridge replaces this stack and loses it.)
  Which partition a subject is on is the pipeline's answer, not Faust's
  (:mod:`pipeline.stream.routing`).
* **Nothing new to run or pin.** The worker already serves ``/metrics`` and
  ``/healthz`` on ``CG_WEB_HOST:CG_WEB_PORT``; aiohttp is already a dependency.

The page itself (``/admin/``, :mod:`pipeline.admin.page`) is a few fixed
files, HTML and JavaScript modules with no data in them, served beside the API
it calls with the admin's token.

Handlers run on the worker's event loop, so they stay short: scans over the
table (dry run) yield every few thousand profiles, and everything that changes
data is a message (a definition, or an event) that the pipeline applies.
"""
