// {{name}}: a Hostel connector written in JavaScript (componentize-js), world
// hostel:plugin/connector-plugin@0.1.0. A connector talks to an outside system
// and offers named operations; `args` and results are JSON text.
//
// - greet: {"name": "you"} (optional) -> {"message": "<greeting>, you!", "count": n}:
//   the greeting comes from `[config] greeting` in hostel.toml, `count` from the
//   host's cache (shared by all instances of this plugin).
// - echo: returns its arguments.
import { get as configGet } from 'hostel:plugin/config@0.1.0';
import { get as cacheGet, set as cacheSet } from 'hostel:plugin/cache@0.1.0';
import { log } from 'hostel:plugin/log@0.1.0';

// A plugin-error for the host: 'invalid-input' (422), 'not-found' (404),
// 'unavailable' (502), 'denied' (403), 'internal' (500).
const fail = (code, message) => { throw { code, message }; };

function greet(args) {
  const name = args.name ?? 'world';
  if (typeof name !== 'string') fail('invalid-input', '"name" must be a string');
  const greeting = configGet('greeting') ?? 'Hello';
  const stored = cacheGet('greetings');
  const count = (stored ? Number(new TextDecoder().decode(stored)) : 0) + 1;
  cacheSet('greetings', new TextEncoder().encode(String(count)), undefined);
  log('info', `greeting number ${count}`);
  return { message: `${greeting}, ${name}!`, count };
}

export const connector = {
  describe() {
    return {
      metadata: { name: '{{name}}', version: '0.1.0', description: 'Greets and echoes (a connector template)' },
      system: 'none (replace with the system you connect to)',
      operations: ['greet', 'echo'],
    };
  },
  connect() {},
  call(operation, args) {
    let parsed;
    try {
      parsed = args.trim() === '' ? {} : JSON.parse(args);
    } catch (e) {
      fail('invalid-input', `args are not JSON: ${e.message}`);
    }
    switch (operation) {
      case 'greet': return JSON.stringify(greet(parsed ?? {}));
      case 'echo': return JSON.stringify(parsed);
      default: return fail('not-found', `unknown operation ${JSON.stringify(operation)} (operations: greet, echo)`);
    }
  },
  close() {},
};
