// `convene keys …`: the admin access keys of the server API. A Secret Key is printed once, when it
// is created, and never again by any command: a lost one is replaced (create, move, remove).
import { AppRegistry } from '../service/apps.ts';
import { JSON_OPTION, Refused, type Command } from './command.ts';

export const keyCommands: Command[] = [
  {
    words: ['keys', 'ls'],
    args: '',
    summary: 'list the admin access keys (never their secrets)',
    help: `Lists the admin access keys of the server API, one line each: Access Key, creation time, and
"operator" for an operator key. Secret Keys are never printed after their creation. With --json: an
array of {"accessKey","createdAt","operator"}.`,
    options: [JSON_OPTION],
    store: 'existing',
    async run(ctx) {
      const keys = await new AppRegistry(ctx.store).listAccessKeys();
      if (ctx.option('json')) return ctx.printJson(keys.map((k) => ({ accessKey: k.accessKey, createdAt: new Date(k.createdAt).toISOString(), operator: k.operator === true })), true);
      for (const k of keys) ctx.print(`${k.accessKey}  created ${new Date(k.createdAt).toISOString()}${k.operator ? '  operator' : ''}`);
    },
  },
  {
    words: ['keys', 'create'],
    args: '',
    summary: 'add an admin key pair and print it (JSON; the only time the secret is shown)',
    help: `Adds an admin key pair and prints it as JSON {"accessKey","secretKey"}: the only time its secret is
shown. Several keys may be active at once: to rotate, create a new key, move the backends to it,
then remove the old one (keys rm). With --operator the key may also operate the deployment through
the server API (GET /v3/nodes, POST /v3/nodes/NODE/drain): give it to operators, never to an app's
backend; other keys are refused those calls (403).`,
    options: [
      { name: 'json', help: 'print JSON (what it prints anyway; accepted for uniformity)' },
      { name: 'operator', help: "an operator key: may also list and drain the deployment's nodes" },
    ],
    store: 'create',
    async run(ctx) {
      const k = await new AppRegistry(ctx.store).createAccessKey(Date.now(), ctx.option('operator') === true);
      ctx.printJson({ accessKey: k.accessKey, secretKey: k.secretKey, ...(k.operator ? { operator: true } : {}) }, true);
    },
  },
  {
    words: ['keys', 'rm'],
    args: 'ACCESS_KEY',
    summary: 'remove an admin key (requests signed with it get 401 at once)',
    help: `Removes an admin access key: requests signed with it are refused (401) on every server from then
on. Exit 1 when there is no such key.`,
    store: 'existing',
    async run(ctx) {
      const accessKey = ctx.args[0]!;
      if (!(await new AppRegistry(ctx.store).deleteAccessKey(accessKey))) throw new Refused(`no access key ${accessKey}: see keys ls`);
      ctx.print(`removed ${accessKey}`);
    },
  },
];
