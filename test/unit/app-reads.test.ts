// Requests for one app while its read is in flight share that read; a change made through the
// registry is never answered by a read sent before it; once a read is answered, the next is new.
// On the real SQLite store, its reads counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../../src/store/sqlite/store.ts';
import { AppRegistry, newApp } from '../../src/service/apps.ts';

test('app reads in flight are shared; a change through the registry starts a new one; an answered read is not reused', async () => {
  const store = new SqliteStore({ path: ':memory:' });
  let reads = 0;
  const getApp = store.getApp.bind(store);
  store.getApp = (id) => {
    reads++;
    return getApp(id);
  };
  const apps = new AppRegistry(store);
  const app = newApp({ appId: 'a'.repeat(32), title: 'one' }, 0);
  await apps.put(app);

  const together = await Promise.all(Array.from({ length: 50 }, () => apps.get(app.appId)));
  assert.equal(reads, 1, 'fifty requests in flight together: one read');
  assert.ok(together.every((a) => a?.title === 'one'));

  // A read in flight when the app changes through the registry does not answer later requests.
  const before = apps.get(app.appId);
  const change = apps.put({ ...app, title: 'two' });
  const after = apps.get(app.appId);
  await change;
  assert.equal((await after)?.title, 'two', 'a request after the change sees it');
  await before;
  assert.equal(reads, 3);

  await apps.delete(app.appId);
  assert.equal(await apps.get(app.appId), null, 'deleted: refused at once');
  assert.equal(await apps.get(app.appId), null);
  assert.equal(reads, 5, 'an answered read is not reused');
  await store.close();
});
