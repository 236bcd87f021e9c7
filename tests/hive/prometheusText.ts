/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: every line must be
 * a `# HELP`, a `# TYPE`, another comment, blank, or a well-formed sample; anything else throws.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string | null;
  help: string | null;
  samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(raw: string, line: number): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (raw === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) throw new Error(`line ${line}: bad value '${raw}'`);
  return Number(raw);
}

export function parsePrometheusText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const family = (name: string): PromFamily => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const existing = families.get(name) ?? families.get(base);
    if (existing) return existing;
    const created: PromFamily = { name, type: null, help: null, samples: [] };
    families.set(name, created);
    return created;
  };
  text.split('\n').forEach((rawLine, index) => {
    const n = index + 1;
    const line = rawLine.trimEnd();
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (!m) return; // a plain comment
      const f = family(m[2]!);
      if (m[1] === 'TYPE') {
        if (!TYPES.has(m[3]!)) throw new Error(`line ${n}: unknown type '${m[3]}'`);
        if (f.type !== null) throw new Error(`line ${n}: second TYPE for ${m[2]}`);
        f.type = m[3]!;
      } else {
        f.help = m[3]!;
      }
      return;
    }
    const nameMatch = METRIC_NAME.exec(line);
    if (!nameMatch) throw new Error(`line ${n}: no metric name in '${line}'`);
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const ln = LABEL_NAME.exec(rest);
        if (!ln) throw new Error(`line ${n}: bad label name in '${line}'`);
        rest = rest.slice(ln[0].length);
        if (!rest.startsWith('="')) throw new Error(`line ${n}: expected =" after label ${ln[0]}`);
        rest = rest.slice(2);
        let value = '';
        for (;;) {
          const c = rest[0];
          if (c === undefined) throw new Error(`line ${n}: unterminated label value`);
          rest = rest.slice(1);
          if (c === '"') break;
          if (c === '\\') {
            const e = rest[0];
            rest = rest.slice(1);
            if (e === 'n') value += '\n';
            else if (e === '\\' || e === '"') value += e;
            else throw new Error(`line ${n}: bad escape \\${e}`);
          } else value += c;
        }
        if (ln[0] in labels) throw new Error(`line ${n}: duplicate label ${ln[0]}`);
        labels[ln[0]] = value;
        if (rest.startsWith(',')) rest = rest.slice(1);
        else if (!rest.startsWith('}')) throw new Error(`line ${n}: expected , or } in '${line}'`);
      }
      rest = rest.slice(1);
    }
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(' ') || parts.length < 1 || parts.length > 2) throw new Error(`line ${n}: bad sample '${line}'`);
    const value = parseValue(parts[0]!, n);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${n}: bad timestamp`);
    family(name).samples.push({ name, labels, value });
  });
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`; undefined if none. */
export function sampleValue(families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(name);
  const s = f?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}
