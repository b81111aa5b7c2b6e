// The OpenAPI document and the docs UI, checked against the running server: the document is valid
// OpenAPI 3.1, lists exactly the routes the server registered, describes what real answers look
// like field for field, and accepts every example request of README.md; the Qiniu schemas are
// checked only after the signature; /docs is served from the package, with no CDN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { qiniu, raw, type RawResponse } from '../helpers/qiniu.ts';
import { callAgora, type ClientOptions } from '../../client/agora.ts';

type Json = any;
interface Operation {
  tags?: string[];
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string; required?: boolean; schema: Json }[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Json }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Json }> }>;
}

let s: TestServer;
let port: number;
let doc: Json;
let docText: string;

before(async () => {
  s = await startTestServer({ CONVENE_PRESENCE_EXPIRY: 'off' });
  port = Number(new URL(s.url).port);
  const res = await fetch(`${s.url}/openapi.json`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers.get('content-type')), /^application\/json/);
  docText = await res.text();
  doc = JSON.parse(docText);
});
after(() => s.close());

const METHODS = ['get', 'post', 'delete', 'put', 'patch'];

function operations(): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
  );
}

function operation(method: string, path: string): Operation {
  const op = doc.paths[path]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${path} is documented`);
  return op;
}

/**
 * The routes of Fastify's own route tree (printRoutes), as `METHOD /path/{param}`: one line per
 * node, four characters of indentation per level, a node's path relative to its parent's.
 */
function registeredRoutes(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    stack.length = m[1]!.length / 4;
    stack.push(m[2]!);
    const path = stack.join('').replace(/:(\w+)/g, '{$1}');
    for (const method of m[3]?.split(', ') ?? []) routes.push(`${method} ${path}`);
  }
  return routes;
}

const envelopeOf = (path: string) =>
  path.startsWith('/v3/') ? 'qiniu' : /^\/(conf|apps|scenario|v1)\//.test(path) ? 'agora' : 'plain';

test('GET /openapi.json is a valid OpenAPI 3.1 document, built once', async () => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1)?.slice(0, 4000));
  assert.equal(validator.version, '3.1');
  assert.equal(doc.openapi, '3.1.0');
  // Served again, it is the same text (generated on the first request, then kept).
  assert.equal(await (await fetch(`${s.url}/openapi.json`)).text(), docText);
});

test('the document lists every route the server registered, for both APIs, and no other', () => {
  const registered = registeredRoutes(s.server.printRoutes({ commonPrefix: false }))
    // HEAD routes are Fastify's automatic twins of the GETs; /docs is the UI's pages and assets,
    // /assets the web pages' built files.
    .filter((r) => !r.startsWith('HEAD ') && !/^\w+ \/(docs|assets)(\/|$)/.test(r))
    .sort();
  // The tree was read: both APIs, every path form, health and the document itself are in it.
  for (const route of [
    'POST /apps/{appId}/v1/room/entry',
    'POST /scenario/meeting/apps/{appId}/v1/room/entry',
    'POST /conf/v1/apps/{appId}/room/entry',
    'GET /v1/multi/language',
    'GET /scenario/meeting/v1/app/version',
    'POST /v3/apps',
    'DELETE /v3/apps/{appId}/rooms/{roomName}/users/{userId}',
    'GET /healthz',
    'GET /readyz',
    'GET /metrics',
    'GET /openapi.json',
  ]) {
    assert.ok(registered.includes(route), `${route} is registered (route tree read correctly)`);
  }
  const documented = operations()
    .map(({ method, path }) => `${method} ${path}`)
    .sort();
  assert.deepEqual(documented, registered);
});

test("every operation documents its answers in its API's envelope and the credentials it checks", () => {
  const schemes = doc.components.securitySchemes;
  assert.deepEqual(schemes.agoraBasic, { ...schemes.agoraBasic, type: 'http', scheme: 'basic' });
  assert.deepEqual(schemes.agoraToken, { ...schemes.agoraToken, type: 'apiKey', in: 'header', name: 'token' });
  assert.deepEqual(schemes.qiniuSignature, { ...schemes.qiniuSignature, type: 'apiKey', in: 'header', name: 'Authorization' });
  assert.match(schemes.qiniuSignature.description, /Qiniu <AccessKey>:<sign>/);
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

  for (const { method, path, op } of operations()) {
    const what = `${method} ${path}`;
    assert.equal(op.tags?.length, 1, `${what}: one tag`);
    assert.ok(op.summary, `${what}: a summary`);
    assert.ok(Array.isArray(op.security), `${what}: says what credentials it needs`);
    for (const [status, response] of Object.entries(op.responses)) {
      // Every answer is JSON but the metrics, in the format Prometheus reads, and the web pages.
      const page = path === '/' || path === '/admin';
      const media =
        path === '/metrics' ? 'text/plain; version=0.0.4; charset=utf-8' : page ? (status === '200' ? 'text/html' : 'text/plain') : 'application/json';
      assert.ok(response.content?.[media]?.schema, `${what} ${status}: a ${media} schema`);
    }
    for (const p of (op.parameters ?? []).filter((p) => p.in === 'path')) {
      assert.ok(path.includes(`{${p.name}}`), `${what}: path parameter ${p.name}`);
    }
    assert.equal((op.parameters ?? []).filter((p) => p.in === 'path').length, path.match(/\{/g)?.length ?? 0, `${what}: every path parameter`);
    const names = op.security!.flatMap((alternative) => Object.keys(alternative));
    switch (envelopeOf(path)) {
      case 'agora': {
        // HTTP 200 always; errors are the {code, msg, data: null} envelope.
        assert.deepEqual(Object.keys(op.responses), ['200'], `${what}: HTTP 200 only`);
        const schema = op.responses['200']!.content!['application/json']!.schema;
        const alternatives = schema.anyOf ?? [schema];
        assert.ok(alternatives.some((a: Json) => a.$ref === ref('AgoraFailure').$ref), `${what}: the error envelope`);
        if (!path.includes('/room')) assert.deepEqual(op.security, [], `${what}: no credentials`);
        else if (path.endsWith('/room/entry')) assert.deepEqual(op.security, [{ agoraBasic: [] }, {}], `${what}: Basic, or a RoomToken in the body`);
        else if (path.endsWith('/simple') || /record|covideo|\{roomId\}\/exit$/.test(path)) assert.deepEqual(op.security, [{ agoraBasic: [] }], what);
        else assert.ok(op.security!.every((a) => 'agoraBasic' in a && ('agoraToken' in a || 'agoraTokenQuery' in a)), `${what}: Basic and token`);
        break;
      }
      case 'qiniu': {
        assert.deepEqual(op.responses.default!.content!['application/json']!.schema, ref('QiniuError'), `${what}: Qiniu errors`);
        assert.deepEqual(op.responses['401']?.content?.['application/json']?.schema, ref('QiniuError'), `${what}: 401 bad token`);
        if (path.endsWith('/auth')) assert.deepEqual(op.security, [], `${what}: not signed`);
        else assert.deepEqual(op.security, [{ qiniuSignature: [] }], `${what}: signed`);
        break;
      }
      default:
        assert.deepEqual(names, [], `${what}: open`);
    }
    if (op.requestBody) {
      for (const media of Object.values(op.requestBody.content)) assert.equal(media.schema.type, 'object', `${what}: a body is an object`);
    }
  }
  // The calls that take bodies say which fields.
  for (const [method, path] of [
    ['POST', '/apps/{appId}/v1/room/entry'],
    ['POST', '/scenario/meeting/apps/{appId}/v1/room/{roomId}/chat'],
    ['POST', '/conf/v1/apps/{appId}/room/{roomId}/user/{userId}'],
    ['POST', '/v3/apps'],
    ['POST', '/v3/apps/{appId}'],
    ['POST', '/v3/apps/{appId}/rooms/{roomName}/message'],
    ['POST', '/v3/apps/{appId}/rooms/{roomName}/lock'],
  ] as const) {
    const fields = operation(method, path).requestBody?.content['application/json']?.schema.properties ?? {};
    assert.ok(Object.keys(fields).length > 0, `${method} ${path}: body fields`);
  }
  assert.deepEqual(Object.keys(operation('POST', '/v3/apps').requestBody!.content), ['application/json', 'application/x-www-form-urlencoded']);
});

// ---- Schemas as validators

const ajv = new Ajv2020({ strict: false, allErrors: true });

/** A schema of the document as a validator (its `#/components/…` references resolve in it). */
function validatorOf(schema: Json, closed = false) {
  const root = { ...schema, components: doc.components };
  return ajv.compile(closed ? close(structuredClone(root)) : root);
}

/** Every object schema that lists its properties refuses others: an undocumented field fails. */
function close(node: Json): Json {
  if (Array.isArray(node)) node.forEach(close);
  else if (node && typeof node === 'object') {
    if (node.properties && node.additionalProperties === undefined && node.patternProperties === undefined) node.additionalProperties = false;
    Object.values(node).forEach(close);
  }
  return node;
}

/** The operation a concrete path is served by: the template with the fewest parameters wins, as in the router. */
function operationFor(method: string, concrete: string): { path: string; op: Operation } | null {
  const matches = operations().filter(
    (o) => o.method === method && new RegExp(`^${o.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(concrete),
  );
  matches.sort((a, b) => (a.path.match(/\{/g)?.length ?? 0) - (b.path.match(/\{/g)?.length ?? 0));
  return matches[0] ?? null;
}

interface Example {
  source: string;
  method: string;
  path: string;
  query: URLSearchParams;
  body?: string;
}

/** Shell words of one command line: single and double quotes, no expansion. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** The example requests of README.md: curl commands, the `qiniu METHOD PATH [BODY]` helper, qiniu-call.mjs. */
function readmeExamples(): Example[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const lines = readme.replace(/\\\n\s*/g, ' ').split('\n');
  const examples: Example[] = [];
  const add = (source: string, method: string, target: string, body?: string) => {
    // Placeholders (`$APP`, `<roomId>`) stand for ids: any id will do.
    const [path, query = ''] = target.replace(/\$\{?\w+\}?|<[^>]+>/g, 'id1').split('?');
    examples.push({ source, method, path: path!, query: new URLSearchParams(query), body });
  };
  for (const line of lines) {
    const cmd = line.replace(/^\s*\$\s+/, '').replace(/\s+#.*$/, '').trim();
    const w = words(cmd);
    if (w[0] === 'curl') {
      let method: string | undefined;
      let body: string | undefined;
      let url: string | undefined;
      for (let i = 1; i < w.length; i++) {
        const a = w[i]!;
        if (a === '-X') method = w[++i];
        else if (a === '-d' || a === '--data' || a === '--data-binary') body = w[++i];
        else if (a === '-u' || a === '-H' || a === '-w') i++;
        else if (/^https?:\/\//.test(a)) url = a;
      }
      // The helper's own curl line (`-X "$1" "http://$CONVENE$2"`) is a template, not an example.
      if (!url || method?.startsWith('$') || /\$\d/.test(url)) continue;
      add(cmd, method ?? (body === undefined ? 'GET' : 'POST'), url.replace(/^https?:\/\/[^/]*/, ''), body);
    } else if (w[0] === 'qiniu' && /^(GET|POST|DELETE)$/.test(w[1] ?? '')) {
      add(cmd, w[1]!, w[2]!, w[3]);
    } else {
      const i = w.indexOf('qiniu-call.mjs');
      if (w[i - 1] === 'node' && w[i + 1]) add(cmd, w[i + 1]!, w[i + 2]!, w[i + 3]);
    }
  }
  return examples;
}

test('every example request in README.md is a documented call with a valid body', () => {
  const examples = readmeExamples();
  // Try it (2 curl), the signed walk-through (2 curl, 8 qiniu calls), qiniu-call.mjs (2).
  assert.ok(examples.length >= 12, `README examples found: ${examples.length}`);
  const seen = new Set<string>();
  for (const ex of examples) {
    const found = operationFor(ex.method, ex.path);
    assert.ok(found, `${ex.source}: ${ex.method} ${ex.path} is documented`);
    seen.add(envelopeOf(found.path));
    const { op } = found;
    const documented = new Set((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name));
    for (const name of ex.query.keys()) assert.ok(documented.has(name), `${ex.source}: query parameter ${name} is documented`);
    if (ex.body === undefined) {
      assert.ok(!op.requestBody?.required, `${ex.source}: a body is required`);
      continue;
    }
    const schema = op.requestBody?.content['application/json']?.schema;
    assert.ok(schema, `${ex.source}: the call takes a JSON body`);
    const validate = validatorOf(schema);
    assert.ok(validate(JSON.parse(ex.body)), `${ex.source}: ${JSON.stringify(validate.errors)}`);
  }
  assert.deepEqual([...seen].sort(), ['agora', 'qiniu'], 'examples of both APIs');
});

test('the request schemas refuse what the server refuses', () => {
  const body = (method: string, path: string) => validatorOf(operation(method, path).requestBody!.content['application/json']!.schema);
  const entry = body('POST', '/apps/{appId}/v1/room/entry');
  assert.equal(entry({ roomName: 'R', roomUuid: 'r', userName: 'U', userUuid: 'u', enableAudio: '1' }), true, 'iOS sends "1"');
  assert.equal(entry({ roomName: 'R', roomUuid: 'r', userName: 'U', userUuid: 'u', enableAudio: true }), true, 'a boolean flag');
  assert.equal(entry({ roomName: 'R', roomUuid: 'r', userName: 'U' }), false, 'userUuid is required');
  assert.equal(entry({ roomName: 'R', roomUuid: 'r', userName: 'U', userUuid: 'u', enableAudio: 2 }), false, 'a flag is 0 or 1');
  const chat = body('POST', '/apps/{appId}/v1/room/{roomId}/chat');
  assert.equal(chat({ message: 'hi', type: true }), true);
  assert.equal(chat({ message: 'hi', type: false }), false, 'type 0 is not a chat type');
  const createApp = body('POST', '/v3/apps');
  assert.equal(createApp({ title: 'x', maxUsers: '10', noAutoKickUser: 'True' }), true, 'form values');
  assert.equal(createApp({ maxUsers: -1 }), false);
  assert.equal(createApp({ mergePublishRtmp: 3 }), false);
  const message = body('POST', '/v3/apps/{appId}/rooms/{roomName}/message');
  assert.equal(message({ text: 'x', targets: null }), true);
  assert.equal(message({ targets: ['a'] }), false, 'text is required');
});

// ---- Real answers against the document

/** The JSON of an answer conforms to what the document says of that status, with no undocumented field. */
function conforms(method: string, path: string, status: number, json: unknown) {
  const op = operation(method, path);
  const response = op.responses[String(status)] ?? op.responses.default;
  assert.ok(response, `${method} ${path}: status ${status} is documented`);
  const validate = validatorOf(response.content!['application/json']!.schema, true);
  assert.ok(validate(json), `${method} ${path} ${status}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(json)}`);
}

test('real answers of both APIs match their documented schemas, field for field', async () => {
  const opts = s.opts;
  const appId = s.creds.appId;
  const room = `/apps/{appId}/v1/room`;
  const agora = async (method: 'GET' | 'POST', path: string, template: string, body?: unknown, token?: string, o: ClientOptions = opts) => {
    const env = await callAgora(o, method, path, body, token);
    conforms(method, template, 200, env);
    return env as Json;
  };
  const entered = await agora('POST', '/entry', `${room}/entry`, { roomName: 'Doc', roomUuid: 'doc', userName: 'Ann', userUuid: 'ann' });
  assert.equal(entered.code, 0);
  const { roomId, userToken } = entered.data;
  const bobEntry = { roomName: 'Doc', roomUuid: 'doc', userName: 'Bob', userUuid: 'bob', avatar: 'https://example.com/b.png', enableVideo: '1' };
  const bob = await agora('POST', '/entry', `${room}/entry`, bobEntry);
  const info = await agora('GET', `/${roomId}`, `${room}/{roomId}`, undefined, userToken);
  assert.equal(info.code, 0, JSON.stringify(info));
  const bobId = (await agora('GET', `/${roomId}`, `${room}/{roomId}`, undefined, bob.data.userToken)).data.user.userId;
  await agora('POST', `/${roomId}/user/${bobId}/board`, `${room}/{roomId}/user/{userId}/board`, { state: 1 }, bob.data.userToken);
  await agora('POST', `/${roomId}/user/${bobId}/screen`, `${room}/{roomId}/user/{userId}/screen`, { state: 1 }, bob.data.userToken);
  // The room with hosts, board users and screen sharers, one of them with an avatar.
  const full = await agora('GET', `/${roomId}`, `${room}/{roomId}`, undefined, userToken);
  assert.equal(full.data.room.shareScreenUsers[0].avatar, 'https://example.com/b.png');
  const page = await agora('GET', `/${roomId}/user/page?count=10`, `${room}/{roomId}/user/page`, undefined, userToken);
  assert.equal(page.data.list.length, 2);
  assert.equal((await agora('POST', `/${roomId}`, `${room}/{roomId}`, { muteAllChat: 1 }, userToken)).data, true);
  await agora('GET', `/${roomId}/board`, `${room}/{roomId}/board`, undefined, userToken);
  await agora('POST', `/${roomId}/token/refresh`, `${room}/{roomId}/token/refresh`, undefined, userToken);
  await agora('GET', `/${roomId}/simple`, `${room}/{roomId}/simple`);
  await agora('GET', `/${roomId}/records`, `${room}/{roomId}/records`);
  const refused = await agora('GET', `/${roomId}`, `${room}/{roomId}`, undefined, 'not-a-token');
  assert.equal(refused.code, 401);
  // The other path forms answer alike.
  for (const [form, template] of [
    ['seed', '/conf/v1/apps/{appId}/room/{roomId}'],
    ['scenario', '/scenario/meeting/apps/{appId}/v1/room/{roomId}'],
  ] as const) {
    await agora('GET', `/${roomId}`, template, undefined, userToken, { ...opts, form });
  }
  for (const [path, template] of [
    ['/v1/multi/language', '/v1/multi/language'],
    ['/scenario/meeting/v1/app/version?appCode=x&osType=1&appVersion=1.0', '/scenario/meeting/v1/app/version'],
    ['/v1/realtime', '/v1/realtime'],
    ['/v1/log/params', '/v1/log/params'],
  ]) {
    conforms('GET', template, 200, await (await fetch(s.url + path)).json());
  }

  // Qiniu: every call, and its errors.
  const keys = { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey };
  const call = async (method: string, path: string, template: string, body?: string, contentType?: string): Promise<RawResponse> => {
    const r = await raw(port, { method, path, body, keys, contentType });
    conforms(method, template, r.status, r.json);
    return r;
  };
  const created = await call('POST', '/v3/apps', '/v3/apps', '{"title":"doc","maxUsers":5}');
  assert.equal(created.status, 200, created.body);
  const newApp = created.json.appId as string;
  await call('POST', '/v3/apps', '/v3/apps', 'title=form&noAutoKickUser=True', 'application/x-www-form-urlencoded');
  const updated = await call('POST', `/v3/apps/${newApp}`, '/v3/apps/{appId}', '{"eventCbUrl":"https://example.com/cb","eventCbSecret":"s","eventCbVersion":"2"}');
  assert.equal(updated.json.eventCbUrl, 'https://example.com/cb');
  await call('GET', `/v3/apps/${newApp}`, '/v3/apps/{appId}');
  const list = await call('GET', '/v3/apps', '/v3/apps');
  assert.ok(list.json.length >= 2);
  assert.equal((await call('GET', `/v3/apps/${appId}/rooms`, '/v3/apps/{appId}/rooms')).json.rooms[0], 'doc');
  assert.equal((await call('GET', `/v3/apps/${appId}/rooms/doc/users`, '/v3/apps/{appId}/rooms/{roomName}/users')).json.users.length, 2);
  assert.equal((await call('POST', `/v3/apps/${appId}/rooms/doc/lock`, '/v3/apps/{appId}/rooms/{roomName}/lock', '{"locked":false}')).status, 200);
  assert.equal((await call('POST', `/v3/apps/${appId}/rooms/doc/message`, '/v3/apps/{appId}/rooms/{roomName}/message', '{"text":"hi"}')).status, 200);
  const cred = new qiniu.Credentials(keys.ak, keys.sk);
  const roomToken = qiniu.room.getRoomToken({ appId, roomName: 'doc', userId: 'zed', expireAt: Math.floor(Date.now() / 1000) + 600, permission: 'user' }, cred);
  const auth = await call('GET', `/v3/apps/${appId}/rooms/doc/auth?user=zed&token=${encodeURIComponent(roomToken)}`, '/v3/apps/{appId}/rooms/{roomName}/auth');
  assert.equal(auth.status, 200, auth.body);
  assert.equal((await call('DELETE', `/v3/apps/${appId}/rooms/doc/users/bob?ban=60`, '/v3/apps/{appId}/rooms/{roomName}/users/{userId}')).status, 200);
  assert.equal((await call('DELETE', `/v3/apps/${appId}/rooms/doc`, '/v3/apps/{appId}/rooms/{roomName}')).status, 200);
  assert.equal((await call('DELETE', `/v3/apps/${appId}/rooms/doc`, '/v3/apps/{appId}/rooms/{roomName}')).status, 615);
  assert.equal((await call('GET', '/v3/apps/nosuchapp', '/v3/apps/{appId}')).status, 612);
  assert.equal((await call('POST', '/v3/apps', '/v3/apps', '{"maxUsers":"x"}')).status, 400);
  const unsigned = await raw(port, { method: 'GET', path: '/v3/apps', auth: null });
  conforms('GET', '/v3/apps', unsigned.status, unsigned.json);
  assert.equal(unsigned.status, 401);
  assert.equal((await call('DELETE', `/v3/apps/${newApp}`, '/v3/apps/{appId}')).status, 200);

  for (const path of ['/healthz', '/readyz']) {
    const r = await fetch(s.url + path);
    conforms('GET', path, r.status, await r.json());
  }
});

test('answers are serialised whole: a response schema never drops a field', () => {
  // The server's serializer for a response schema that leaves out `b` (Fastify's default would drop it).
  const serialize = (s.server as unknown as { serializerCompiler: (o: unknown) => (data: unknown) => string }).serializerCompiler({
    schema: { type: 'object', properties: { a: { type: 'string' } } },
    method: 'GET',
    url: '/',
    httpStatus: '200',
  });
  assert.equal(serialize({ a: 'x', b: [1, { c: null }] }), '{"a":"x","b":[1,{"c":null}]}');
});

test('Qiniu bodies and queries are checked only once the signature is verified', async () => {
  const keys = { ak: s.bootstrapped.accessKey, sk: s.bootstrapped.secretKey };
  const appId = s.creds.appId;
  const bad = '{"maxUsers":"lots","title":5}';
  // Without or with a wrong signature, a body that fails its schema is still a 401.
  for (const auth of [null, `Qiniu ${keys.ak}:AAAAAAAAAAAAAAAAAAAAAAAAAAA=`, 'Qiniu unknown:xyz']) {
    const r = await raw(port, { method: 'POST', path: '/v3/apps', body: bad, auth });
    assert.equal(r.status, 401, `${auth}: ${r.body}`);
    assert.equal(r.json.error, 'bad token');
  }
  const badBan = await raw(port, { method: 'DELETE', path: `/v3/apps/${appId}/rooms/x/users/y?ban=soon`, auth: `Qiniu ${keys.ak}:AAAA` });
  assert.equal(badBan.status, 401);

  // Signed, the same requests get the Qiniu 400, naming the field and what it takes.
  const signed = (method: string, path: string, body?: string, contentType?: string) => raw(port, { method, path, body, keys, contentType });
  const expect400 = async (r: Promise<RawResponse>, error: string) => {
    const res = await r;
    assert.equal(res.status, 400, res.body);
    assert.equal(res.json.error, error);
    assert.equal(res.reason, error, 'the error text is the reason phrase');
  };
  await expect400(signed('POST', '/v3/apps', '{"maxUsers":"lots"}'), 'invalid args: maxUsers must be an integer from 0 to 1000000');
  await expect400(signed('POST', '/v3/apps', '{"title":5}'), 'invalid args: title must be a string of at most 256 characters');
  await expect400(signed('POST', '/v3/apps', 'noAutoKickUser=maybe', 'application/x-www-form-urlencoded'), 'invalid args: noAutoKickUser must be a boolean');
  await expect400(signed('POST', `/v3/apps/${appId}`, '{"mergePublishRtmp":{"fps":-1}}'), 'invalid args: mergePublishRtmp.fps must be an integer from 0 to 100000');
  await expect400(signed('POST', `/v3/apps/${appId}`, '{"mergePublishRtmp":[]}'), 'invalid args: mergePublishRtmp must be an object');
  await expect400(signed('POST', `/v3/apps/${appId}/rooms/r/message`, '{"msgId":"m"}'), 'invalid args: text is required (a string of 1 to 4000 characters)');
  await expect400(
    signed('POST', `/v3/apps/${appId}/rooms/r/message`, '{"text":"x","targets":["a",""]}'),
    'invalid args: targets must be a list of at most 10000 non-empty strings',
  );
  await expect400(signed('POST', `/v3/apps/${appId}/rooms/r/lock`, '{"locked":"yes"}'), 'invalid args: locked must be a boolean');
  // The app is checked before the body, as before schemas (docs/qiniu-api.md §4.2).
  assert.equal((await signed('POST', '/v3/apps/nosuchapp/rooms/r/message', '{}')).status, 612);
  // A form with the Python SDK's spellings passes.
  const form = await signed('POST', '/v3/apps', 'title=py&maxUsers=7&noAutoKickUser=True', 'application/x-www-form-urlencoded');
  assert.equal(form.status, 200, form.body);
  assert.deepEqual([form.json.title, form.json.maxUsers, form.json.noAutoKickUser], ['py', 7, true]);
  await signed('DELETE', `/v3/apps/${form.json.appId}`);
});

test('GET /docs serves the UI from the package: no CDN, every asset local', async () => {
  const page = await fetch(`${s.url}/docs`);
  assert.equal(page.status, 200);
  assert.match(String(page.headers.get('content-type')), /^text\/html/);
  const html = await page.text();
  const refs = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(refs.some((r) => r.endsWith('.js')) && refs.some((r) => r.endsWith('.css')), `scripts and styles: ${refs}`);
  assert.doesNotMatch(html, /https?:\/\/|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, 'no external URL in the page');
  for (const ref of refs) {
    assert.ok(ref.startsWith('/docs/'), `${ref} is served here`);
    const asset = await fetch(new URL(ref, `${s.url}/docs`));
    assert.equal(asset.status, 200, ref);
    assert.ok((await asset.arrayBuffer()).byteLength > 0, ref);
  }
  // The UI loads the document from this server and sends it to no online validator.
  const init = await (await fetch(`${s.url}/docs/static/swagger-initializer.js`)).text();
  assert.match(init, /validatorUrl: null/);
  assert.match(init, /resolveUrl\('\.\/json'\)/);
  for (const line of init.split('\n').filter((l) => /https?:\/\//.test(l))) assert.match(line, /^\s*\/\//, `only comments name URLs: ${line}`);
  assert.deepEqual(await (await fetch(`${s.url}/docs/json`)).json(), doc);
});

test('the new routes answer plain JSON errors and leave the APIs their envelopes', async () => {
  for (const [method, path] of [
    ['POST', '/openapi.json'],
    ['GET', '/openapi.yaml'],
    ['GET', '/docs/static/nothing.js'],
  ]) {
    const r = await fetch(s.url + path, { method });
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.deepEqual(await r.json(), { error: 'not found' }, `${method} ${path}`);
  }
  const agora = await (await fetch(`${s.url}/apps/${s.creds.appId}/v1/room/x/openapi.json`)).json();
  assert.equal(agora.code, 404);
  const qiniuAnswer = await raw(port, { method: 'GET', path: '/v3/openapi.json', auth: null });
  assert.equal(qiniuAnswer.status, 404);
  assert.deepEqual(qiniuAnswer.json, { error: 'not found' });
});
