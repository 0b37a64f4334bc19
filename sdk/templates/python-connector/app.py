"""{{name}}: a Hostel connector written in Python (componentize-py), world
hostel:plugin/connector-plugin@0.1.0. A connector talks to an outside system and
offers named operations; `args` and results are JSON text.

- `greet` - {"name": "you"} (optional) -> {"message": "<greeting>, you!", "count": n}:
  the greeting comes from `[config] greeting` in hostel.toml, `count` from the
  host's cache (shared by all instances of this plugin).
- `echo` - returns its arguments.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.connector import ConnectorInfo
from wit_world.imports import cache, config, log
from wit_world.imports.types import ErrorCode, Metadata, PluginError


def fail(code, message):
    """A plugin-error for the host (422 invalid-input, 404 not-found, ...)."""
    return Err(PluginError(code, message))


class Connector(exports.Connector):
    def describe(self) -> ConnectorInfo:
        return ConnectorInfo(
            metadata=Metadata("{{name}}", "0.1.0", "Greets and echoes (a connector template)"),
            system="none (replace with the system you connect to)",
            operations=["greet", "echo"],
        )

    def connect(self) -> None:
        pass

    def call(self, operation: str, args: str) -> str:
        try:
            parsed = json.loads(args) if args.strip() else {}
        except ValueError as e:
            raise fail(ErrorCode.INVALID_INPUT, f"args are not JSON: {e}")
        if operation == "greet":
            name = parsed.get("name") if isinstance(parsed, dict) else None
            if name is None:
                name = "world"
            elif not isinstance(name, str):
                raise fail(ErrorCode.INVALID_INPUT, '"name" must be a string')
            greeting = config.get("greeting") or "Hello"
            stored = cache.get("greetings")
            count = (int(stored.decode()) if stored else 0) + 1
            cache.set("greetings", str(count).encode(), None)
            log.log(log.Level.INFO, f"greeting number {count}")
            return json.dumps({"message": f"{greeting}, {name}!", "count": count})
        if operation == "echo":
            return json.dumps(parsed)
        raise fail(ErrorCode.NOT_FOUND, f"unknown operation {operation!r} (operations: greet, echo)")

    def close(self) -> None:
        pass
