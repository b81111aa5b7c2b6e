// The metadata bound counts bytes of UTF-8 as Node encodes them (lone surrogates as U+FFFD, 3
// bytes), so the rules refuse exactly what is over 4096 bytes on the wire.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMetadata, MAX_METADATA_BYTES, utf8Bytes } from '../../src/domain/metadata.ts';
import { RuleError } from '../../src/domain/rules.ts';

const PIECES = ['a', '~', 'é', 'ß', '€', '中', '😀', '\ud800', '\udc00', '\u0000', '\u07ff', '\u0800', '\uffff'];

test('utf8Bytes agrees with Buffer.byteLength on strings of every width, surrogates alone and in pairs', () => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    let s = '';
    for (let j = next() % 40; j > 0; j--) s += PIECES[next() % PIECES.length];
    assert.equal(utf8Bytes(s), Buffer.byteLength(s, 'utf8'), JSON.stringify(s));
  }
});

test('checkMetadata takes 4096 bytes and refuses one more, whatever the characters', () => {
  checkMetadata('a'.repeat(MAX_METADATA_BYTES));
  checkMetadata('😀'.repeat(MAX_METADATA_BYTES / 4));
  assert.throws(() => checkMetadata('a'.repeat(MAX_METADATA_BYTES + 1)), RuleError);
  assert.throws(() => checkMetadata(`${'😀'.repeat(MAX_METADATA_BYTES / 4 - 1)}abcde`), (e: unknown) => e instanceof RuleError && e.code === 'invalid');
});
