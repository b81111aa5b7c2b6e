// The help texts, made from the command table: the list of every command, a group's list
// (`convene rooms --help`), and one command's usage with its options (`convene rooms kick --help`).
import type { Command } from './command.ts';

const EXIT_CODES = `Exit codes: 0 done; 1 not done (the app, key, room or member named is not there, or the rules
refuse, e.g. the meeting has ended); 2 usage (unknown command, wrong arguments, a bad value) or
environment (invalid configuration, no database, Redis unreachable).`;

const STORE = `The commands use the server's database (CONVENE_DATA_DIR, default ./data, or CONVENE_DB), or the
cluster's Redis (REDIS_URL, CONVENE_REDIS_PREFIX), and may run while servers run; they never start
one. Changes to meetings go through the same rules as the APIs and into the room's log; members'
sockets hear of them within about two seconds (the servers find the change in the room's log).`;

export function usageLine(c: Command): string {
  const options = (c.options ?? []).map((o) => `[--${o.name}${o.value ? ` ${o.value}` : ''}]`);
  return ['convene', ...c.words, c.args, ...options].filter(Boolean).join(' ');
}

function listing(commands: Command[]): string {
  const lines: string[] = [];
  for (const c of commands) {
    const name = [...c.words, c.args].filter(Boolean).join(' ');
    lines.push(name.length <= 30 ? `  ${name.padEnd(31)}${c.summary}` : `  ${name}\n  ${' '.repeat(31)}${c.summary}`);
  }
  return lines.join('\n');
}

/** `convene --help`: every command. The first line is what scripts and tests look for. */
export function mainHelp(commands: Command[]): string {
  return `usage: convene [command]
  (from the project directory: npm start -- [command], or npx convene [command])

${listing(commands)}
  help [COMMAND]                 show this text, or a command's (also -h, --help)

Every command answers -h/--help (convene rooms --help, convene rooms kick --help). Listings and
shows take --json: one JSON document on stdout (rooms tail: one JSON line per event).

${EXIT_CODES}

${STORE}`;
}

/** `convene rooms --help`: the commands of one group. */
export function groupHelp(group: string, commands: Command[]): string {
  return `usage: convene ${group} <command> [arguments] [options]

${listing(commands)}

Each answers --help, e.g. convene ${commands[0]!.words.join(' ')} --help.

${EXIT_CODES}`;
}

/** `convene rooms kick --help`: one command. */
export function commandHelp(c: Command): string {
  const options = [...(c.options ?? []), { name: 'help', help: 'show this text (also -h)' }];
  const optionLines = options.map((o) => {
    const flag = `--${o.name}${'value' in o && o.value ? ` ${o.value}` : ''}`;
    return `  ${flag.padEnd(16)}${o.help}`;
  });
  return `usage: ${usageLine(c)}

${c.help}

Options:
${optionLines.join('\n')}

${EXIT_CODES}`;
}
