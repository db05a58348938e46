"""The command line: one typer app, one module per command group. Commands stay thin:
they parse, call a service on the :class:`~govfabric.fabric.Fabric`, and print."""
