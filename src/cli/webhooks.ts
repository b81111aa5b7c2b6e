// `convene webhooks …`: an app's webhook endpoints and its dead letters, as the admin API shows and
// changes them (docs/qiniu-api.md §4.5). A secret is printed once, by `webhooks add`.
import { deadView, endpointView, WebhookConfigError, WebhookEndpoints } from '../webhooks/endpoints.ts';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/events.ts';
import { wholeNumber } from './args.ts';
import { JSON_OPTION, Refused, UsageError, type Command, type Context } from './command.ts';
import { appOf } from './lookup.ts';

const ENDPOINT_OPTION = { name: 'endpoint', value: 'ENDPOINT_ID', help: "only this endpoint's" };

function endpointsOf(ctx: Context): WebhookEndpoints {
  return new WebhookEndpoints(ctx.store, { allowPrivate: ctx.config.webhooks.allowPrivate });
}

/** What was typed for an endpoint setting, refused as a usage error (exit 2) when wrong. */
async function checkedInput<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof WebhookConfigError) throw new UsageError(err.message);
    throw err;
  }
}

function knownEndpoint(ctx: Context, webhooks: { id: string }[] | undefined): string | null {
  const id = ctx.option('endpoint');
  if (id === undefined || id === true) return null;
  if (!(webhooks ?? []).some((e) => e.id === id)) throw new Refused(`the app has no webhook endpoint ${id} (see webhooks ls)`);
  return id;
}

export const webhookCommands: Command[] = [
  {
    words: ['webhooks', 'ls'],
    args: 'APP_ID',
    summary: "list an app's webhook endpoints (never their secrets)",
    help: `Lists the app's webhook endpoints, one line each: id, URL, event types. The endpoint \`eventcb\` is the
one the server API's UpdateApp sets (eventCbUrl). Secrets are never printed after \`webhooks add\`.
With --json: an array of {"id","url","events","createdAt"}.`,
    options: [JSON_OPTION],
    store: 'existing',
    async run(ctx) {
      const app = await appOf(ctx, ctx.args[0]!);
      const list = endpointsOf(ctx).list(app);
      if (ctx.option('json')) return ctx.printJson(list, true);
      for (const e of list) ctx.print(`${e.id}  ${e.url}  ${e.events.join(',')}`);
    },
  },
  {
    words: ['webhooks', 'add'],
    args: 'APP_ID URL',
    summary: 'add a webhook endpoint and print it with its secret (JSON; the only time it is shown)',
    help: `Adds a webhook endpoint to the app: its events are POSTed to URL, signed with the Standard Webhooks
scheme, and prints it as JSON {"id","url","events","createdAt","secret"}: the only time the secret
is shown. --secret gives the key (whsec_<base64 of 24 to 64 bytes>, or any other text used as the
key's raw bytes); without it one is made. --events takes a comma-separated list of
${WEBHOOK_EVENT_TYPES.join(', ')}, or * for all; without it, all but chat.sent.
Servers deliver from the next event on. A bad URL, secret or type is a usage error (exit 2).`,
    options: [
      { name: 'secret', value: 'SECRET', help: 'the signing key (default: a new whsec_ key)' },
      { name: 'events', value: 'TYPES', help: 'comma-separated event types, or * (default: all but chat.sent)' },
      { name: 'json', help: 'print JSON (what it prints anyway; accepted for uniformity)' },
    ],
    store: 'existing',
    async run(ctx) {
      const app = await appOf(ctx, ctx.args[0]!);
      const secret = ctx.option('secret');
      const events = ctx.option('events');
      const made = await checkedInput(() =>
        endpointsOf(ctx).add(app, {
          url: ctx.args[1]!,
          secret: typeof secret === 'string' ? secret : undefined,
          events: typeof events === 'string' ? events.split(',').map((e) => e.trim()).filter(Boolean) : undefined,
        }),
      );
      ctx.printJson({ ...endpointView(made), secret: made.secret }, true);
    },
  },
  {
    words: ['webhooks', 'rm'],
    args: 'APP_ID ENDPOINT_ID',
    summary: 'remove a webhook endpoint (its pending deliveries and dead letters go with it)',
    help: `Removes a webhook endpoint of the app: nothing more is delivered to it, what was waiting for it is
dropped, and its dead letters are deleted. Removing \`eventcb\` also clears the app's eventCbUrl.
Exit 1 when the app has no such endpoint.`,
    store: 'existing',
    async run(ctx) {
      const app = await appOf(ctx, ctx.args[0]!);
      const id = ctx.args[1]!;
      if (!(await endpointsOf(ctx).remove(app, id))) throw new Refused(`the app has no webhook endpoint ${id} (see webhooks ls ${app.appId})`);
      ctx.print(`removed ${id}`);
    },
  },
  {
    words: ['webhooks', 'dead'],
    args: 'APP_ID',
    summary: "list an app's dead letters: events that failed every attempt",
    help: `Lists the app's dead letters, oldest first, one line each: event id, endpoint, type, roomUuid and
seq, attempts, when it died and the last error. They stay until resent (webhooks resend), their
endpoint is removed, or their meeting is deleted by the retention (CONVENE_ROOM_RETENTION). With
--json: an array of {"id","endpointId","type","roomId","roomUuid","seq","attempts","lastError","deadAt"}.`,
    options: [ENDPOINT_OPTION, { name: 'limit', value: 'N', help: 'at most N (default 100, up to 100000)' }, JSON_OPTION],
    store: 'existing',
    async run(ctx) {
      const app = await appOf(ctx, ctx.args[0]!);
      const limitText = ctx.option('limit');
      const limit = typeof limitText === 'string' ? wholeNumber(limitText, '--limit', 1, 100_000) : 100;
      const dead = (await endpointsOf(ctx).dead(app.appId, knownEndpoint(ctx, app.webhooks), limit)).map(deadView);
      if (ctx.option('json')) return ctx.printJson(dead, true);
      for (const d of dead) {
        ctx.print(`${d.id}  ${d.endpointId}  ${d.type}  ${d.roomUuid}#${d.seq}  ${d.attempts} attempts  died ${d.deadAt}  ${d.lastError}`);
      }
    },
  },
  {
    words: ['webhooks', 'resend'],
    args: 'APP_ID [EVENT_ID...]',
    summary: 'deliver dead letters again (the ids given, or --all)',
    help: `Puts dead letters back in their rooms' queues, attempts reset: the EVENT_IDs given (as webhooks dead
lists them), or with --all every one of the app (of one endpoint with --endpoint). They are
delivered in seq order with what waits in the same room, with their first webhook-id. Exit 1 when
none of them is a dead letter.`,
    options: [ENDPOINT_OPTION, { name: 'all', help: 'every dead letter of the app (or of --endpoint)' }],
    store: 'existing',
    async run(ctx) {
      const app = await appOf(ctx, ctx.args[0]!);
      const ids = ctx.args.slice(1);
      if (ids.length === 0 && !ctx.option('all')) throw new UsageError('give the EVENT_IDs to resend, or --all');
      if (ids.length > 0 && ctx.option('all')) throw new UsageError('give EVENT_IDs or --all, not both');
      const n = await endpointsOf(ctx).resend(app.appId, knownEndpoint(ctx, app.webhooks), ids.length > 0 ? ids : null);
      if (n === 0 && ids.length > 0) throw new Refused(`no dead letter ${ids.join(', ')} (see webhooks dead ${app.appId})`);
      ctx.print(`resent ${n}`);
    },
  },
];
