// Reading what was typed after a command's words: options (`--json`, `--since 5`, `--since=5`)
// anywhere, `--` ending them, the rest positional (also words starting with one dash); checked against the command's own usage, so
// the usage shown and the usage enforced cannot drift apart.
import { UsageError, type Command } from './command.ts';

export const HELP_WORDS = new Set(['-h', '--help']);

export interface Parsed {
  args: string[];
  options: Map<string, string | true>;
}

/** How many arguments the usage allows: `A B [C]` → [2, 3]; a trailing `[D...]` → [n, Infinity]. */
export function argumentCounts(usage: string): [number, number] {
  const tokens = usage.split(/\s+/).filter(Boolean);
  const required = tokens.filter((t) => !t.startsWith('[')).length;
  const open = tokens.some((t) => t.endsWith('...]') || t.endsWith('...'));
  return [required, open ? Infinity : tokens.length];
}

/** True when `-h`/`--help` appears among the options (not after `--`). */
export function asksForHelp(rest: string[]): boolean {
  for (const a of rest) {
    if (a === '--') return false;
    if (HELP_WORDS.has(a)) return true;
  }
  return false;
}

export function parseArgs(command: Command, rest: string[]): Parsed {
  const specs = new Map((command.options ?? []).map((o) => [o.name, o]));
  const args: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--') {
      args.push(...rest.slice(i + 1));
      break;
    }
    // Only `--word` is an option: generated keys and ids may start with a dash (`-dyqT…`).
    const m = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(a);
    if (!m) {
      args.push(a);
      continue;
    }
    const spec = specs.get(m[1]!);
    if (!spec) throw new UsageError(`unknown option ${a}`);
    if (options.has(spec.name)) throw new UsageError(`--${spec.name} given twice`);
    if (spec.value === undefined) {
      if (m[2] !== undefined) throw new UsageError(`--${spec.name} takes no value`);
      options.set(spec.name, true);
      continue;
    }
    const value = m[2] ?? rest[++i];
    if (value === undefined) throw new UsageError(`--${spec.name} needs a value: --${spec.name} ${spec.value}`);
    options.set(spec.name, value);
  }
  const [min, max] = argumentCounts(command.args);
  if (args.length < min) {
    const missing = command.args.split(/\s+/).filter((t) => t && !t.startsWith('['))[args.length];
    throw new UsageError(`missing ${missing}`);
  }
  if (args.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(args[max])}`);
  return { args, options };
}

/** A whole number from `min` to `max` typed for `what`, or a UsageError saying what is wanted. */
export function wholeNumber(text: string, what: string, min: number, max: number): number {
  if (!/^\d{1,15}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${what} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  }
  return Number(text);
}
