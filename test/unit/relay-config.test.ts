// The RTM relay's settings: off unless a URL is given; every mistake named at start; per-app
// overrides replace the server's settings for their app only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.ts';
import { configProblems } from '../helpers/config.ts';
import { relayTargetFor } from '../../src/relay/config.ts';

const problems = configProblems;

test('off by default; on with a URL, Agora\'s quota and the sender `convene`', () => {
  assert.equal(loadConfig({}).rtmRelay, null);
  const c = loadConfig({ CONVENE_RTM_RELAY_URL: 'https://api.agora.io/' }).rtmRelay!;
  assert.deepEqual([c.url, c.rate, c.sender, c.customerId], ['https://api.agora.io', 500, 'convene', null]);
});

test('each mistake is named', () => {
  assert.match(problems({ CONVENE_RTM_RELAY_CUSTOMER_ID: 'x', CONVENE_RTM_RELAY_CUSTOMER_SECRET: 'y' }).join(), /needs CONVENE_RTM_RELAY_URL/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'ftp://x' }).join(), /CONVENE_RTM_RELAY_URL: must be an http/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'http://x', CONVENE_RTM_RELAY_SENDER: '1042' }).join(), /not all digits/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'http://x', CONVENE_RTM_RELAY_SENDER: 'a b' }).join(), /SENDER/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'http://x', CONVENE_RTM_RELAY_CUSTOMER_ID: 'x' }).join(), /must be given together/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'http://x', CONVENE_RTM_RELAY_RATE: '0' }).join(), /CONVENE_RTM_RELAY_RATE/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'http://x', CONVENE_RTM_RELAY_APPS: '{' }).join(), /must be a JSON object/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'http://x', CONVENE_RTM_RELAY_APPS: '{"a":{"colour":"x"}}' }).join(), /unknown setting/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'http://x', CONVENE_RTM_RELAY_APPS: '{"a":{"rate":"5"}}' }).join(), /must be a number/);
  assert.match(problems({ CONVENE_RTM_RELAY_URL: 'http://x', CONVENE_RTM_RELAY_APPS: '{"a":{"sender":"7"}}' }).join(), /\[a\]\.SENDER/);
});

test('per-app settings replace the server\'s for that app only; "off" leaves an app out', () => {
  const c = loadConfig({
    CONVENE_RTM_RELAY_URL: 'http://x',
    CONVENE_RTM_RELAY_CUSTOMER_ID: 'server',
    CONVENE_RTM_RELAY_CUSTOMER_SECRET: 'server-secret',
    CONVENE_RTM_RELAY_APPS: JSON.stringify({ quiet: 'off', own: { customerId: 'own', customerSecret: 'own-secret', rate: 50, url: 'http://y/' } }),
  }).rtmRelay!;
  assert.equal(relayTargetFor(c, 'quiet'), null);
  assert.deepEqual(relayTargetFor(c, 'own'), { url: 'http://y', customerId: 'own', customerSecret: 'own-secret', sender: 'convene', rate: 50 });
  assert.deepEqual(relayTargetFor(c, 'other'), { url: 'http://x', customerId: 'server', customerSecret: 'server-secret', sender: 'convene', rate: 500 });
});
