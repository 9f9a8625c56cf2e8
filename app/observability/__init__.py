"""Operating the service: Prometheus metrics, structured logs, graceful shutdown.

- ``metrics``, ``informer``, ``operations``: what ``/metrics`` serves, from one registry per app;
- ``logs``, ``context``, ``middleware``: JSON log lines carrying the request's id;
- ``shutdown``, ``signals``: SIGTERM ends subscriptions with a final message and lets requests in
  flight finish, within ``Server.ShutdownTimeoutSeconds``;
- ``runtime``: :class:`Observability`, the one object ``app.server`` wires in.
"""
