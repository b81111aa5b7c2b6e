// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every line
// must be a HELP, TYPE, comment, sample or empty line as the format defines them, each family's lines
// must be together with its TYPE before its samples, no series may repeat, and a histogram's buckets
// must be cumulative and end in +Inf equal to its _count. Anything else throws, naming the line.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  /** Families whose lines have ended (another family's line came after them). */
  const closed = new Set<string>();
  let current: string | null = null;
  const seen = new Set<string>();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the text does not end with a line feed');
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    const enter = (name: string): Family => {
      if (current !== name) {
        if (closed.has(name)) throw new Error(`${where}: the lines of ${name} are not together`);
        if (current !== null) closed.add(current);
        current = name;
      }
      let f = families.get(name);
      if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
      return f;
    };
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) {
        // Other comments are allowed, but a malformed HELP/TYPE is not a comment.
        if (/^#\s+(HELP|TYPE)(\s|$)/.test(line)) throw new Error(`${where}: malformed ${line.split(/\s+/)[1]}`);
        return;
      }
      const [, keyword, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!)) throw new Error(`${where}: bad metric name`);
      const f = enter(name!);
      if (keyword === 'HELP') {
        if (f.help !== undefined) throw new Error(`${where}: second HELP`);
        f.help = unescape(rest, where, false);
      } else {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`);
        if (f.samples.length > 0) throw new Error(`${where}: TYPE after samples`);
        if ((f as { typed?: boolean }).typed) throw new Error(`${where}: second TYPE`);
        (f as { typed?: boolean }).typed = true;
        f.type = rest as Family['type'];
      }
      return;
    }
    const sample = parseSample(line, where);
    const family = familyOf(sample.name, families);
    const f = enter(family);
    const key = `${sample.name}{${Object.entries(sample.labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',')}}`;
    if (seen.has(key)) throw new Error(`${where}: series repeated`);
    seen.add(key);
    checkSampleName(f, sample, where);
    f.samples.push(sample);
  });
  for (const f of families.values()) {
    if (f.type === 'histogram') checkHistogram(f);
    if (f.type === 'counter') for (const s of f.samples) if (!(s.value >= 0)) throw new Error(`${s.name}: a counter is ${s.value}`);
  }
  return families;
}

/** The family a sample belongs to: a histogram's or summary's suffixed series belong to its name. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const f = families.get(base);
    if (f && (f.type === 'histogram' || f.type === 'summary')) return base;
  }
  return name;
}

function checkSampleName(f: Family, s: Sample, where: string): void {
  if (f.type === 'histogram') {
    if (s.name === `${f.name}_bucket`) {
      if (!('le' in s.labels)) throw new Error(`${where}: a bucket without le`);
    } else if (s.name !== `${f.name}_sum` && s.name !== `${f.name}_count`) throw new Error(`${where}: not a histogram series`);
    else if ('le' in s.labels) throw new Error(`${where}: le outside a bucket`);
  } else if (f.type === 'summary') {
    if (s.name === f.name) {
      if (!('quantile' in s.labels)) throw new Error(`${where}: a quantile without its label`);
    } else if (s.name !== `${f.name}_sum` && s.name !== `${f.name}_count`) throw new Error(`${where}: not a summary series`);
  } else if (s.name !== f.name) throw new Error(`${where}: not a series of ${f.name}`);
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let h = series.get(key);
    if (!h) series.set(key, (h = { buckets: [] }));
    if (s.name.endsWith('_bucket')) h.buckets.push([parseValue(le!, `${f.name} le`), s.value]);
    else if (s.name.endsWith('_count')) h.count = s.value;
  }
  for (const [key, h] of series) {
    const what = `${f.name}${key}`;
    if (h.buckets.length === 0 || h.count === undefined) throw new Error(`${what}: buckets and _count are both required`);
    for (let i = 1; i < h.buckets.length; i++) {
      if (!(h.buckets[i]![0] > h.buckets[i - 1]![0])) throw new Error(`${what}: bucket bounds not increasing`);
      if (h.buckets[i]![1] < h.buckets[i - 1]![1]) throw new Error(`${what}: buckets not cumulative`);
    }
    const last = h.buckets[h.buckets.length - 1]!;
    if (last[0] !== Infinity) throw new Error(`${what}: no +Inf bucket`);
    if (last[1] !== h.count) throw new Error(`${what}: +Inf bucket ${last[1]} is not _count ${h.count}`);
  }
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) throw new Error(`${where}: not a sample`);
  const name = m[1]!;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      if (line[i] === '}') {
        i++;
        break;
      }
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i));
      if (!l || !LABEL_NAME.test(l[1]!)) throw new Error(`${where}: bad label at ${i}`);
      i += l[0].length;
      let raw = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          raw += c + (line[i + 1] ?? '');
          i += 2;
          continue;
        }
        raw += c;
        i++;
      }
      i++;
      if (l[1]! in labels) throw new Error(`${where}: label ${l[1]} repeated`);
      labels[l[1]!] = unescape(raw, where, true);
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`${where}: expected , or } at ${i}`);
    }
  }
  const rest = line.slice(i);
  const v = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!v) throw new Error(`${where}: expected " value [timestamp]"`);
  return { name, labels, value: parseValue(v[1]!, where) };
}

/** As Go's strconv.ParseFloat reads it (the format's definition): NaN and [+-]Inf(inity) in any case. */
function parseValue(text: string, where: string): number {
  if (/^nan$/i.test(text)) return NaN;
  const inf = /^([-+]?)inf(inity)?$/i.exec(text);
  if (inf) return inf[1] === '-' ? -Infinity : Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

/** HELP text escapes \\ and \n; label values also \". */
function unescape(text: string, where: string, quotes: boolean): string {
  return text.replace(/\\(.?)/g, (_all, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quotes) return '"';
    throw new Error(`${where}: bad escape \\${c}`);
  });
}

/** The value of one series (labels given must match exactly); undefined when absent. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.get(familyOf(name, families)) ?? families.get(name);
  const want = JSON.stringify(Object.entries(labels).sort());
  return family?.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
}
