// js-connector: a unit converter written in JavaScript (componentize-js 0.23.0),
// world hostel:plugin/connector-plugin@0.1.0. See README.md to build it.
import { log } from 'hostel:plugin/log@0.1.0';
import { get } from 'hostel:plugin/config@0.1.0';

// Each unit as its factor to the category's base unit (m, kg, s, m², L, m/s, B).
const UNITS = {
  length: { m: 1, km: 1000, cm: 0.01, mm: 0.001, mi: 1609.344, yd: 0.9144, ft: 0.3048, in: 0.0254, nmi: 1852 },
  mass: { kg: 1, g: 0.001, mg: 1e-6, t: 1000, lb: 0.45359237, oz: 0.028349523125, st: 6.35029318 },
  time: { s: 1, ms: 0.001, min: 60, h: 3600, d: 86400, wk: 604800 },
  area: { 'm2': 1, 'km2': 1e6, ha: 1e4, acre: 4046.8564224, 'ft2': 0.09290304 },
  volume: { l: 1, ml: 0.001, 'm3': 1000, gal: 3.785411784, qt: 0.946352946, cup: 0.2365882365 },
  speed: { 'm/s': 1, 'km/h': 1 / 3.6, mph: 0.44704, kn: 1852 / 3600 },
  data: { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1048576, GiB: 1073741824 },
};
// Temperatures are affine: to and from kelvin.
const TEMPERATURE = {
  K: [(v) => v, (k) => k],
  C: [(v) => v + 273.15, (k) => k - 273.15],
  F: [(v) => (v - 32) * 5 / 9 + 273.15, (k) => (k - 273.15) * 9 / 5 + 32],
};

const fail = (code, message) => { throw { code, message }; };

function categoryOf(unit) {
  if (unit in TEMPERATURE) return 'temperature';
  for (const [category, units] of Object.entries(UNITS)) if (unit in units) return category;
  return fail('not-found', `unknown unit ${JSON.stringify(unit)} (operation "units" lists them)`);
}

function convert({ value, from, to } = {}) {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail('invalid-input', '"value" must be a finite number');
  if (typeof from !== 'string' || typeof to !== 'string') fail('invalid-input', '"from" and "to" must be unit names');
  const category = categoryOf(from);
  if (categoryOf(to) !== category) fail('invalid-input', `cannot convert ${category} (${from}) to ${categoryOf(to)} (${to})`);
  const result = category === 'temperature'
    ? TEMPERATURE[to][1](TEMPERATURE[from][0](value))
    : value * UNITS[category][from] / UNITS[category][to];
  const digits = Number(get('precision') ?? '6');
  return { value: Number(result.toPrecision(Math.min(Math.max(digits, 1), 17))), unit: to, category };
}

let connected = false;
let calls = 0;

export const connector = {
  describe() {
    return {
      metadata: { name: 'js-connector', version: '0.1.0', description: 'Unit conversion (length, mass, time, area, volume, speed, data, temperature), in JavaScript' },
      system: 'built-in unit tables (SI, imperial, IEC)',
      operations: ['convert', 'units', 'echo'],
    };
  },
  connect() {
    connected = true;
  },
  call(operation, args) {
    let parsed;
    try {
      parsed = args.trim() === '' ? {} : JSON.parse(args);
    } catch (e) {
      fail('invalid-input', `args are not JSON: ${e.message}`);
    }
    calls += 1;
    log('debug', `${operation} (call ${calls}${connected ? '' : ', not connected'})`);
    switch (operation) {
      case 'convert': return JSON.stringify(convert(parsed));
      case 'units': return JSON.stringify({ ...Object.fromEntries(Object.entries(UNITS).map(([c, u]) => [c, Object.keys(u)])), temperature: Object.keys(TEMPERATURE) });
      case 'echo': return JSON.stringify(parsed);
      default: return fail('not-found', `unknown operation ${JSON.stringify(operation)} (operations: convert, units, echo)`);
    }
  },
  close() {
    connected = false;
  },
};
