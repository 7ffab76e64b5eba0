"""The proxy fast lane's Python side: the launcher and what runs in LiteLLM's proxy process.

``fast-litellm proxy`` runs :mod:`.launcher`; the Rust front itself is ``crates/fastlane``.

Launcher side (the ``fast-litellm proxy`` process):

* :mod:`.launcher` -- starts LiteLLM's proxy on an internal port, decides which model groups
  the front serves, starts the front (``run``, ``explain`` for ``doctor --proxy-config``);
* :mod:`.settings` -- the settings table: one verdict per config key (``serve`` or ``pass-through``);
* :mod:`.providers` -- the upstream providers the front calls, and how LiteLLM calls each one;
* :mod:`.embeddings` -- the groups served on ``/v1/embeddings``;
* :mod:`.anthropic` -- the ``anthropic/`` groups served on ``/v1/messages``;
* :mod:`.tls` -- how LiteLLM verifies an ``https://`` upstream, for the front's TLS client.

Proxy-process side (armed by ``_launcher/sitecustomize.py`` in LiteLLM's proxy and workers):

* :mod:`.peer` -- the client's address from the front's peer header;
* :mod:`.held` -- LiteLLM's answer built from an upstream answer the front already holds;
* :mod:`.replay` -- the logging route: records of requests the front served replayed through LiteLLM;
* :mod:`.prometheus` -- Prometheus metrics of those records without a replay.

The launcher imports the others, never the reverse; this ``__init__`` imports nothing, so the
proxy process loads only what it arms.
"""
