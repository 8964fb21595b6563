import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isDecimalFloat,
  parseFastFloat,
  parseGoFloat,
  parseTimestampMs,
  sampleValueToNumber,
  toSampleValue,
} from '../../../tasks/prom_pars/values.ts';

describe('parseGoFloat', () => {
  it('accepts what Go ParseFloat accepts, minus hex and underscores', () => {
    const accepted: [string, number][] = [
      ['0', 0],
      ['-0', -0],
      ['+1', 1],
      ['1.', 1],
      ['.5', 0.5],
      ['1e3', 1000],
      ['1E+3', 1000],
      ['2.5e-3', 0.0025],
      ['1e-400', 0],
      ['Inf', Number.POSITIVE_INFINITY],
      ['+inf', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
      ['INFINITY', Number.POSITIVE_INFINITY],
    ];
    for (const [token, expected] of accepted) assert.equal(parseGoFloat(token), expected, token);
    for (const token of ['NaN', 'nan', 'Nan', 'NAN'])
      assert.ok(Number.isNaN(parseGoFloat(token)), token);
  });

  it('refuses what Go refuses, and what only JavaScript accepts', () => {
    const refused = [
      '',
      ' 1',
      '1 ',
      '.',
      'e3',
      '1e',
      '1e+',
      '0x10',
      '0b1',
      '0o7',
      '1_000',
      '0x1p3',
      '+NaN',
      '-nan',
      'infin',
      'Infinityy',
      '1.2.3',
      '--1',
      '1e400',
      '\t1',
      '1\r',
    ];
    for (const token of refused)
      assert.equal(parseGoFloat(token), undefined, JSON.stringify(token));
    for (const token of refused)
      assert.equal(parseFastFloat(token), undefined, JSON.stringify(token));
  });

  it('tells a syntax error from an out-of-range value', () => {
    assert.equal(isDecimalFloat('1e400'), true);
    assert.equal(isDecimalFloat('1e4x'), false);
  });
});

describe('parseFastFloat', () => {
  it('agrees with parseGoFloat, spelling NaN and the infinities as strings', () => {
    const tokens = [
      '0',
      '-0',
      '12',
      '1.25',
      '-3e-5',
      '9007199254740993',
      '1e308',
      'NaN',
      '+Inf',
      '-Inf',
      'inf',
    ];
    for (const token of tokens) {
      const exact = parseGoFloat(token);
      assert.ok(exact !== undefined, token);
      assert.equal(parseFastFloat(token), toSampleValue(exact), token);
    }
  });
});

describe('sample values in JSON', () => {
  it('maps non-finite numbers to strings and back', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -1.5]) {
      assert.equal(sampleValueToNumber(toSampleValue(value)), value);
    }
    assert.deepEqual(
      [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map(toSampleValue),
      ['NaN', '+Inf', '-Inf'],
    );
  });
});

describe('parseTimestampMs', () => {
  it('reads base-10 integers with an optional sign', () => {
    assert.equal(parseTimestampMs('1395066363000'), 1395066363000);
    assert.equal(parseTimestampMs('-3982045'), -3982045);
    assert.equal(parseTimestampMs('+5'), 5);
    assert.equal(parseTimestampMs('9007199254740991'), Number.MAX_SAFE_INTEGER);
  });

  it('refuses non-integers, and integers a number cannot hold exactly', () => {
    for (const token of ['', '-', '1.5', '1e3', '0x10', '1_000', ' 1'])
      assert.equal(parseTimestampMs(token), 'syntax', token);
    for (const token of ['9007199254740993', '-9223372036854775808'])
      assert.equal(parseTimestampMs(token), 'range', token);
  });
});
