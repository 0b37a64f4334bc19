// {{name}}: a Hostel plugin of kind `component` written in JavaScript
// (componentize-js): a component of its own world (wit/world.wit, world
// `plugin`). Hostel calls its exports through the generic route
// POST /v1/plugins/{{name}}/invoke/{export} with the arguments as a JSON
// object by parameter name.
//
// - greet(name) -> "<greeting>, <name>!", the greeting from `[config] greeting`.
// - tally#summarize(items) -> counts and adds up a list of records.
//
// The world's own functions are exported by name; an exported interface as an
// object named after it (camelCase); WIT records are objects with camelCase fields.
import { get as configGet } from 'hostel:plugin/config@0.1.0';

export function greet(name) {
  const greeting = configGet('greeting') ?? 'Hello';
  return `${greeting}, ${name}!`;
}

export const tally = {
  summarize(items) {
    let largest;
    for (const item of items) if (largest === undefined || item.quantity > largest.quantity) largest = item;
    return {
      count: items.length,
      // u64 crosses as a BigInt.
      total: items.reduce((sum, item) => sum + BigInt(item.quantity), 0n),
      names: items.map((item) => item.name),
      largest: largest?.name,
    };
  },
};
