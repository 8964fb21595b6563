import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PrometheusParseError, parsePrometheusText } from '../../../tasks/prom_pars/parse.ts';

/** Three good lines first, so every line number below proves it is counted, not guessed. */
const PREFIX = '# HELP ok Fine.\n# TYPE ok gauge\nok{code="200"} 1\n';

interface Case {
  name: string;
  /** The malformed part, appended to PREFIX (so it starts on line 4). */
  text: string;
  line: number;
  message: string;
}

const CASES: Case[] = [
  {
    name: 'missing =',
    text: 'm{code "200"} 1\n',
    line: 4,
    message: `expected '=' after label name "code", found '"'`,
  },
  {
    name: 'unquoted label value',
    text: 'm{code=200} 1\n',
    line: 4,
    message: `expected '"' to open the value of label "code", found '2'`,
  },
  {
    name: 'unterminated label set',
    text: 'm{code="200" 1\n',
    line: 4,
    message: `expected ',' or '}' after the value of label "code", found '1'`,
  },
  {
    name: 'two commas',
    text: 'm{a="1",,b="2"} 1\n',
    line: 4,
    message: "expected a label name, found ','",
  },
  {
    name: 'label name starting with a digit',
    text: 'm{1a="x"} 1\n',
    line: 4,
    message: "expected a label name, found '1'",
  },
  {
    name: 'reserved label name',
    text: 'm{__name__="x"} 1\n',
    line: 4,
    message: 'label name "__name__" is reserved',
  },
  {
    name: 'duplicate label name',
    text: 'm{a="1",b="2",a="3"} 1\n',
    line: 4,
    message: 'duplicate label name "a"',
  },
  {
    name: 'invalid escape in a label value',
    text: 'm{a="\\t"} 1\n',
    line: 4,
    message: "invalid escape sequence '\\t' in a label value",
  },
  {
    name: 'raw newline in a label value',
    text: 'm{a="x\n"} 1\n',
    line: 4,
    message: 'label value "x" contains an unescaped newline',
  },
  {
    name: 'label value cut off by the end of input',
    text: 'm{a="x',
    line: 4,
    message: 'unexpected end of input: the last line must end with a newline',
  },
  {
    name: 'metric name with a dash',
    text: 'my-metric 1\n',
    line: 4,
    message: `invalid character in metric name "my": found '-'`,
  },
  {
    name: 'metric name starting with a digit',
    text: '0m 1\n',
    line: 4,
    message: "expected a metric name, found '0'",
  },
  {
    name: 'line starting with a brace',
    text: '{a="b"} 1\n',
    line: 4,
    message: "expected a metric name, found '{'",
  },
  { name: 'no value', text: 'm\n', line: 4, message: 'no value after metric name "m"' },
  {
    name: 'no value after labels',
    text: 'm{a="b"}\n',
    line: 4,
    message: 'no value after metric name "m"',
  },
  {
    name: 'value that is not a number',
    text: 'm 12abc\n',
    line: 4,
    message: 'sample value "12abc" of "m" is not a number',
  },
  {
    name: 'hex value',
    text: 'm 0x1F\n',
    line: 4,
    message: 'sample value "0x1F" of "m" is not a number',
  },
  {
    name: 'value with an underscore',
    text: 'm 1_000\n',
    line: 4,
    message: 'sample value "1_000" of "m" is not a number',
  },
  {
    name: 'signed NaN',
    text: 'm -NaN\n',
    line: 4,
    message: 'sample value "-NaN" of "m" is not a number',
  },
  {
    name: 'value out of the float64 range',
    text: 'm 1e400\n',
    line: 4,
    message: 'sample value "1e400" of "m" is out of the float64 range',
  },
  {
    name: 'carriage return',
    text: 'm 1\r\n',
    line: 4,
    message: 'sample value "1\\r" of "m" is not a number',
  },
  {
    name: 'float timestamp',
    text: 'm 1 1.5\n',
    line: 4,
    message: 'expected an integer timestamp in milliseconds, got "1.5"',
  },
  {
    name: 'timestamp beyond 2^53',
    text: 'm 1 9223372036854775807\n',
    line: 4,
    message: 'timestamp 9223372036854775807 is beyond ±2^53 ms',
  },
  {
    name: 'text after the timestamp',
    text: 'm 1 2 3\n',
    line: 4,
    message: 'unexpected text after the timestamp: "3"',
  },
  {
    name: 'no final newline',
    text: 'm 1',
    line: 4,
    message: 'unexpected end of input: the last line must end with a newline',
  },
  {
    name: 'no final newline after a comment',
    text: '# just a comment',
    line: 4,
    message: 'unexpected end of input',
  },
  {
    name: 'duplicate TYPE',
    text: '# TYPE m counter\n# TYPE m counter\n',
    line: 5,
    message: 'second TYPE line for metric "m"',
  },
  {
    name: 'TYPE after samples',
    text: 'm 1\n# TYPE m counter\n',
    line: 5,
    message: 'TYPE line for metric "m" comes after its samples',
  },
  {
    name: 'TYPE for a family that owns the name',
    text: '# TYPE m summary\n# TYPE m_sum gauge\n',
    line: 5,
    message: 'second TYPE line for metric "m_sum" (summary "m" owns it)',
  },
  {
    name: 'duplicate HELP',
    text: '# HELP m a\n# HELP m b\n',
    line: 5,
    message: 'second HELP line for metric "m"',
  },
  {
    name: 'unknown type',
    text: '# TYPE m gauge_histogram\n',
    line: 4,
    message: 'unknown metric type "gauge_histogram"',
  },
  {
    name: 'TYPE with two words',
    text: '# TYPE m counter gauge\n',
    line: 4,
    message: 'unknown metric type "counter gauge"',
  },
  {
    name: 'invalid escape in HELP',
    text: '# HELP m a \\" quote\n',
    line: 4,
    message: `invalid escape sequence '\\"' in HELP text`,
  },
  {
    name: 'invalid metric name in HELP',
    text: '# HELP m-x text\n',
    line: 4,
    message: `invalid character in the metric name after "# HELP", found '-'`,
  },
  {
    name: 'histogram bucket without a float le',
    text: '# TYPE h histogram\nh_bucket{le="big"} 1\n',
    line: 5,
    message: `expected a float as the value of label "le", got "big"`,
  },
  {
    name: 'summary without a float quantile',
    text: '# TYPE s summary\ns{quantile="p99"} 1\n',
    line: 5,
    message: `expected a float as the value of label "quantile", got "p99"`,
  },
  {
    name: 'content after # EOF',
    text: '# EOF\n\nm 1\n',
    line: 6,
    message: 'unexpected content after "# EOF"',
  },
];

describe('parsePrometheusText rejects malformed lines', () => {
  for (const { name, text, line, message } of CASES) {
    it(`${name}: line ${line}`, () => {
      assert.throws(
        () => parsePrometheusText(PREFIX + text),
        (error: unknown) => {
          assert.ok(
            error instanceof PrometheusParseError,
            `not a PrometheusParseError: ${String(error)}`,
          );
          assert.equal(error.line, line);
          assert.ok(error.message.startsWith(`line ${line}: `), error.message);
          assert.ok(error.reason.includes(message), `"${error.reason}" lacks "${message}"`);
          return true;
        },
      );
    });
  }

  it('reports the line of a bad sample deep into a long exposition', () => {
    const good = Array.from({ length: 5000 }, (_, index) => `m{i="${index}"} ${index}\n`).join('');
    assert.throws(
      () => parsePrometheusText(`${good}m{i="x"} 1 2 3\n`),
      /^PrometheusParseError: line 5001: /,
    );
  });
});
