// `convene [serve] | apps … | keys … | rooms … | help` — the program's entry (npm start,
// bin/convene.js). The commands live in src/cli/ (the table is src/cli/commands.ts). Apart from
// serve, they work on the configured store directly (the SQLite file, or the cluster's Redis when
// REDIS_URL is set), safe while servers run (SQLite WAL lets a second process read and write;
// servers read apps and keys from the store on every request and find meetings' events in their
// logs): they take no server lock and load none of the server's modules.
import { loadConfig, ConfigError, type Config } from './config.ts';
import type { RoomStore } from './store/store.ts';
import { StoreUnavailableError } from './store/store.ts';
import { OperationalError } from './ops/errors.ts';
import { openStore } from './ops/store.ts';
import { isProgram } from './ops/entry.ts';
import { RuleError } from './domain/rules.ts';
import { Exit, Refused, UsageError, type Command, type Context } from './cli/command.ts';
import { asksForHelp, parseArgs, type Parsed } from './cli/args.ts';
import { COMMANDS, groupOf } from './cli/commands.ts';
import { commandHelp, groupHelp, mainHelp, usageLine } from './cli/help.ts';

const HELP = new Set(['help', '-h', '--help']);

const fail = (message: string) => process.stderr.write(`convene: ${message}\n`);

/** The command named by the first words of `args` (longest match), and the words after them. */
function commandOf(args: string[]): { command: Command; rest: string[] } | null {
  const matches = COMMANDS.filter((c) => c.words.every((w, i) => args[i] === w)).sort((a, b) => b.words.length - a.words.length);
  const command = matches[0];
  return command ? { command, rest: args.slice(command.words.length) } : null;
}

/** `help`, `help rooms`, `help rooms kick`: the text asked for, or null for an unknown topic. */
function helpOn(topic: string[]): string | null {
  if (topic.length === 0) return mainHelp(COMMANDS);
  const found = commandOf(topic);
  if (found && found.rest.length === 0) return commandHelp(found.command);
  const group = groupOf(topic[0]!);
  if (group.length > 0 && topic.length === 1) return groupHelp(topic[0]!, group);
  return null;
}

export async function runCli(args: string[]): Promise<number> {
  if (args.length > 0 && HELP.has(args[0]!)) {
    const text = helpOn(args.slice(1));
    if (text === null) {
      fail(`no command ${args.slice(1).join(' ')}\n${mainHelp(COMMANDS)}`);
      return Exit.usage;
    }
    console.log(text);
    return Exit.done;
  }
  const found = commandOf(args);
  if (!found) {
    const group = groupOf(args[0]!);
    if (group.length > 0) {
      // `convene rooms --help` asks for the group; `convene rooms` alone, or a wrong verb, is a mistake.
      if (args.length === 2 && HELP.has(args[1]!)) {
        console.log(groupHelp(args[0]!, group));
        return Exit.done;
      }
      fail(`${args.length === 1 ? `${args[0]}: which command?` : `unknown command: ${args.join(' ')}`}\n${groupHelp(args[0]!, group)}`);
      return Exit.usage;
    }
    fail(`unknown command: ${args.join(' ')}\n${mainHelp(COMMANDS)}`);
    return Exit.usage;
  }
  const { command, rest } = found;
  const name = command.words.join(' ');
  if (asksForHelp(rest)) {
    console.log(commandHelp(command));
    return Exit.done;
  }
  const usageError = (message: string) => {
    fail(`${name}: ${message}\nusage: ${usageLine(command)}\n(convene ${name} --help says more)`);
    return Exit.usage;
  };
  let parsed: Parsed;
  try {
    parsed = parseArgs(command, rest);
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    throw err;
  }
  if (command.store === 'none') {
    // Such a command reads the configuration itself, if at all (ctx.config loads it when asked).
    try {
      await command.run(contextOf(parsed, null, null, new AbortController().signal));
      return Exit.done;
    } catch (err) {
      if (err instanceof UsageError) return usageError(err.message);
      return exitFor(err);
    }
  }

  let config: Config;
  let store: RoomStore;
  try {
    config = loadConfig();
    if (config.dbPath === ':memory:' && !config.redis.target) {
      throw new OperationalError('CONVENE_DB=:memory: holds no data for a command to use: unset it, or set CONVENE_DATA_DIR to the server\'s data directory');
    }
    store = await openStore(config, { mustExist: command.store === 'existing' });
  } catch (err) {
    return exitFor(err);
  }

  // Only a command that follows something waits for a signal; the others end by themselves, and a
  // Ctrl-C while one waits (e.g. for Redis) should stop it at once, as by default.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  if (command.follows) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    await command.run(contextOf(parsed, store, config, stop.signal));
    return Exit.done;
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    return exitFor(err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await store.close();
  }
}

/** A command's failure said on stderr, as its exit code; anything else is a bug and propagates. */
function exitFor(err: unknown): number {
  // The environment: bad configuration, a data directory or Redis this process cannot use.
  if (err instanceof ConfigError) {
    console.error(err.message);
    return Exit.usage;
  }
  if (err instanceof OperationalError) {
    fail(err.message);
    return Exit.usage;
  }
  // What the rules refuse (the meeting ended meanwhile, …) is an answer, as is a thing not there.
  if (err instanceof Refused || err instanceof RuleError) {
    fail(err.message);
    return Exit.notDone;
  }
  if (err instanceof StoreUnavailableError) {
    fail(`${err.message} (is Redis running at REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES?)`);
    return Exit.notDone;
  }
  throw err;
}

function contextOf(parsed: Parsed, store: RoomStore | null, config: Config | null, stopped: AbortSignal): Context {
  return {
    args: parsed.args,
    option: (name) => parsed.options.get(name),
    get store(): RoomStore {
      if (!store) throw new Error('this command opens no store');
      return store;
    },
    get config(): Config {
      config ??= loadConfig();
      return config;
    },
    stopped,
    print: (line) => void process.stdout.write(`${line}\n`),
    printJson: (value, pretty = false) => void process.stdout.write(`${JSON.stringify(value, null, pretty ? 2 : undefined)}\n`),
  };
}

/** `convene [command]`: serves when no command is given (src/main.ts), otherwise runs it. */
export async function runConvene(args: string[]): Promise<void> {
  const command = args.length === 0 ? ['serve'] : args;
  // A command's output piped into a reader that stopped (`… | head`) ends it quietly, as for other
  // tools. Not the server's: a supervisor that lost its pipe is not a reason to stop serving quietly.
  if (command[0] !== 'serve') {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      process.exit(Exit.done);
    });
  }
  process.exitCode = await runCli(command);
}

if (isProgram(import.meta.url)) await runConvene(process.argv.slice(2));
