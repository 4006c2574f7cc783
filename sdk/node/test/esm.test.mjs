// The ESM entry and the package's exports map (self-reference by name).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import Mags, { Mags as Named, MagsError, LogStream, ExecStream, DEFAULT_API_URL } from 'mags-sdk';
import * as ns from '../index.mjs';

const require = createRequire(import.meta.url);

test('ESM default and named exports are the CommonJS ones', () => {
  const cjs = require('mags-sdk');
  assert.equal(Mags, cjs);
  assert.equal(Named, cjs);
  assert.equal(MagsError, cjs.MagsError);
  assert.equal(LogStream, cjs.LogStream);
  assert.equal(ExecStream, cjs.ExecStream);
  assert.equal(DEFAULT_API_URL, 'http://127.0.0.1:8420');
  assert.equal(ns.default, cjs);
  assert.equal(ns.Mags, cjs);
});

test('a client can be made from the ESM entry', () => {
  const m = new Mags({ apiToken: 't', apiUrl: 'http://127.0.0.1:9/api/v1' });
  assert.equal(m.apiUrl, 'http://127.0.0.1:9');
  assert.equal(m.timeout, 30000);
  // The token is not enumerable (kept out of console.log / JSON).
  assert.ok(!Object.keys(m).includes('apiToken'));
  assert.equal(m.apiToken, 't');
});
