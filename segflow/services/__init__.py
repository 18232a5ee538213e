"""What segflow does for its three front doors (the CLI, the console and the worker): one module per
concern, each saying in its docstring what it promises. The front doors call these and the schemas;
these call `db`, the engine and the integrations."""
