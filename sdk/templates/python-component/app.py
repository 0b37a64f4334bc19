"""{{name}}: a Hostel plugin of kind `component` written in Python
(componentize-py): a component of its own world (wit/world.wit, world
`plugin`). Hostel calls its exports through the generic route
POST /v1/plugins/{{name}}/invoke/{export} with the arguments as a JSON object
by parameter name.

- `greet(name)` -> "<greeting>, <name>!", the greeting from `[config] greeting`.
- `tally#summarize(items)` -> counts and adds up a list of records.

componentize-py looks up the class of the world's own functions as `WitWorld`
and the class of an exported interface by its name (`Tally`) in this module.
"""

from typing import List

from wit_world import WitWorld as World, exports
from wit_world.exports.tally import Item, Summary
from wit_world.imports import config


class WitWorld(World):
    def greet(self, name: str) -> str:
        greeting = config.get("greeting") or "Hello"
        return f"{greeting}, {name}!"


class Tally(exports.Tally):
    def summarize(self, items: List[Item]) -> Summary:
        largest = max(items, key=lambda i: i.quantity).name if items else None
        return Summary(
            count=len(items),
            total=sum(i.quantity for i in items),
            names=[i.name for i in items],
            largest=largest,
        )
