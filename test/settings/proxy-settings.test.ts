/** PROXY and the HTTP(S)_PROXY / NO_PROXY variables, resolved once by settings (src/wire/proxy.ts). */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadSettings } from '../../src/settings/load.ts';
import { describeProxy, hideCredentials, proxySecrets } from '../../src/wire/proxy.ts';
import { configProblems } from '../helpers/settings.ts';
import { tempDir } from '../helpers/worker.ts';

const emptyDir = () => tempDir('hive-proxy-settings-');
const proxyOf = (env: Record<string, string>, argv: string[] = [], installDir = emptyDir()) =>
  loadSettings({ argv, env, installDir }).settings.proxy;

const problemsOf = (env: Record<string, string>) => configProblems(() => proxyOf(env));

describe('proxy settings', () => {
  test('no proxy anywhere: direct, and the banner says so', () => {
    const proxy = proxyOf({});
    assert.deepEqual(proxy, { kind: 'none', source: 'no proxy variables set' });
    assert.equal(describeProxy(proxy), 'none (no proxy variables set)');
  });

  test('PROXY wins over the environment, from each place it can be set', () => {
    const env = { HTTP_PROXY: 'http://env-proxy:1', HIVE_PROXY: 'http://u:pw12@hive-proxy:2' };
    assert.deepEqual(proxyOf(env), {
      kind: 'fixed',
      url: 'http://u:pw12@hive-proxy:2',
      source: 'HIVE_PROXY',
    });
    assert.equal(describeProxy(proxyOf(env)), 'http://***@hive-proxy:2 (from HIVE_PROXY)');
    assert.equal(proxyOf(env, ['--proxy', 'http://flag:3']).kind, 'fixed');
    assert.equal(
      describeProxy(proxyOf(env, ['--proxy', 'flag:3'])),
      'http://flag:3 (from --proxy)',
    );
    const dir = emptyDir();
    writeFileSync(join(dir, 'worker.config.json'), JSON.stringify({ PROXY: 'http://file:4' }));
    assert.deepEqual(proxyOf({ HTTPS_PROXY: 'http://env:5' }, [], dir), {
      kind: 'fixed',
      url: 'http://file:4',
      source: 'worker.config.json',
    });
  });

  test('PROXY=direct ignores the environment', () => {
    const proxy = proxyOf({ HIVE_PROXY: 'direct', HTTPS_PROXY: 'http://env:1' });
    assert.equal(proxy.kind, 'none');
    assert.equal(describeProxy(proxy), 'none (PROXY=direct from HIVE_PROXY)');
  });

  test('the environment: lower case first, scheme-less values are http, NO_PROXY kept', () => {
    const proxy = proxyOf({
      http_proxy: 'proxy.corp:3128',
      HTTP_PROXY: 'http://ignored:1',
      HTTPS_PROXY: 'https://secure.corp:443',
      NO_PROXY: 'localhost,.internal',
    });
    assert.deepEqual(proxy, {
      kind: 'environment',
      httpProxy: 'http://proxy.corp:3128',
      httpsProxy: 'https://secure.corp:443',
      noProxy: 'localhost,.internal',
      source: 'http_proxy, HTTPS_PROXY, NO_PROXY',
    });
    assert.equal(
      describeProxy(proxy),
      'http: http://proxy.corp:3128, https: https://secure.corp:443, except localhost,.internal (from http_proxy, HTTPS_PROXY, NO_PROXY)',
    );
  });

  test('a bad proxy URL is one actionable line, credentials hidden, with the other problems', () => {
    const problems = problemsOf({
      HIVE_NO_TASK_SLEEP: 'abc',
      HTTPS_PROXY: 'socks5://bob:hunter22@socks:1080',
    });
    assert.equal(problems.length, 2);
    assert.equal(
      problems[1],
      'Expected HTTPS_PROXY to be an http:// or https:// proxy URL like http://proxy.corp:3128, got "socks5://***@socks:1080" (from HTTPS_PROXY)',
    );
    assert.match(
      problemsOf({ HIVE_PROXY: 'ftp://x' })[0] ?? '',
      /^Expected PROXY .*\(from HIVE_PROXY\)$/,
    );
  });

  test('every form of the credentials is a secret for the logger', () => {
    const proxy = proxyOf({ HIVE_PROXY: 'http://alice:p%40ss-word@proxy:1' });
    assert.deepEqual(proxySecrets(proxy), ['alice:p%40ss-word', 'p%40ss-word', 'p@ss-word']);
    assert.deepEqual(proxySecrets(proxyOf({ HTTP_PROXY: 'http://proxy:1' })), []);
    assert.equal(hideCredentials('http://a:b@h:1/x@y'), 'http://***@h:1/x@y');
  });
});
