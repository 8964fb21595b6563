import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePrometheusText } from '../../../tasks/prom_pars/parse.ts';

/** The only family of `text`. */
function only(text: string) {
  const families = parsePrometheusText(text);
  assert.equal(families.length, 1, `expected one family in ${JSON.stringify(text)}`);
  const [family] = families;
  assert.ok(family);
  return family;
}

function values(text: string): unknown[] {
  return parsePrometheusText(text).flatMap((family) =>
    family.samples.map((sample) => sample.value),
  );
}

describe('the text exposition format 0.0.4', () => {
  it('unescapes \\\\ and \\n in HELP, and keeps other text as written', () => {
    const family = only(
      '# HELP m A \\\\ backslash,\\na newline, "quotes" and tabs\t!\n# TYPE m gauge\nm 1\n',
    );
    assert.equal(family.help, 'A \\ backslash,\na newline, "quotes" and tabs\t!');
    assert.equal(family.type, 'gauge');
  });

  it('unescapes \\\\, \\" and \\n in label values', () => {
    const { samples } = only('m{a="x\\\\y",b="say \\"hi\\"",c="one\\ntwo",d="",e="✓ ünï"} 1\n');
    assert.deepEqual(samples[0]?.labels, {
      a: 'x\\y',
      b: 'say "hi"',
      c: 'one\ntwo',
      d: '',
      e: '✓ ünï',
    });
  });

  it('accepts a trailing comma, an empty label set and blanks inside the braces', () => {
    const { samples } = only('m{a="1",} 1\nm{} 2\nm { a = "3" , b="4" , } 3\nm{}4\n');
    assert.deepEqual(
      samples.map((sample) => sample.labels),
      [{ a: '1' }, {}, { a: '3', b: '4' }, {}],
    );
    assert.deepEqual(
      samples.map((sample) => sample.value),
      [1, 2, 3, 4],
    );
  });

  it('reads timestamps, negative ones included, and leaves them out when absent', () => {
    const { samples } = only('m 1 1395066363000\nm{a="b"} 2 -3982045\nm 3\nm 4 +7\nm 5 0\n');
    assert.deepEqual(
      samples.map((sample) => sample.timestampMs),
      [1395066363000, -3982045, undefined, 7, 0],
    );
    assert.equal(Object.hasOwn(samples[2] ?? {}, 'timestampMs'), false);
  });

  it('treats metrics without TYPE as untyped, and comments and blank lines as nothing', () => {
    const families = parsePrometheusText(
      '\n# a comment\n#\n   \n\t\nfoo 1\n# HELP\n# TYPE\n#just text\nbar 2\n\n',
    );
    assert.deepEqual(
      families.map(({ name, type, help }) => ({ name, type, help })),
      [
        { name: 'foo', type: 'untyped', help: '' },
        { name: 'bar', type: 'untyped', help: '' },
      ],
    );
  });

  it('ignores spaces and tabs around tokens and around the line', () => {
    const family = only(' \t# TYPE \t m \t counter \t\n\t m{a="1"} \t 5 \t 17 \t\n   m   6   \n');
    assert.equal(family.type, 'counter');
    assert.deepEqual(
      family.samples.map(({ value, timestampMs }) => [value, timestampMs]),
      [
        [5, 17],
        [6, undefined],
      ],
    );
  });

  it('stops at OpenMetrics # EOF, with only blank lines after it', () => {
    assert.deepEqual(values('a 1\n# EOF\n'), [1]);
    assert.deepEqual(values('a 1\n# EOF'), [1]);
    assert.deepEqual(values('a 1\n# EOF\n\n  \n'), [1]);
    assert.deepEqual(values('a 1\n# EOF is just a comment here\nb 2\n'), [1, 2]);
  });

  it('reads every Go ParseFloat form Prometheus accepts', () => {
    const forms = [
      '1e3',
      '-0',
      '0',
      '+5',
      '1.',
      '.5',
      '-1.5E-3',
      '007',
      'Nan',
      'NaN',
      'nan',
      '+Inf',
      '-Inf',
      'Inf',
      'inf',
      '+infinity',
      '-Infinity',
      '123456789012345678901',
      '4.9e-324',
      '1e-400',
    ];
    const text = forms.map((form, index) => `m{i="${index}"} ${form}\n`).join('');
    assert.deepEqual(values(text), [
      1000,
      -0,
      0,
      5,
      1,
      0.5,
      -0.0015,
      7,
      'NaN',
      'NaN',
      'NaN',
      '+Inf',
      '-Inf',
      '+Inf',
      '+Inf',
      '+Inf',
      '-Inf',
      123456789012345680000,
      5e-324,
      0,
    ]);
  });

  it('validates metric and label names by the format: colons in metric names, not in label names', () => {
    const { samples } = only('ns:sub_system:metric_total{_label_1="x",Label="y"} 1\n');
    assert.equal(samples[0]?.name, 'ns:sub_system:metric_total');
    assert.throws(
      () => parsePrometheusText('m{a:b="x"} 1\n'),
      /line 1: expected '=' after label name "a"/,
    );
    assert.throws(() => parsePrometheusText('1m 1\n'), /line 1: expected a metric name, found '1'/);
  });

  it('keeps label names that are Object.prototype members as plain own properties', () => {
    const { samples } = only('m{__proto__="a",constructor="b",toString="c"} 1\n');
    const labels = samples[0]?.labels ?? {};
    assert.equal(Object.getPrototypeOf(labels), Object.prototype);
    assert.deepEqual(Object.entries(labels), [
      ['__proto__', 'a'],
      ['constructor', 'b'],
      ['toString', 'c'],
    ]);
  });

  it('groups histogram and summary lines under their family, wherever the HELP goes', () => {
    const text = [
      '# TYPE rpc summary',
      'rpc{quantile="0.5"} 1',
      'rpc_sum 2',
      'rpc_count 3',
      '# TYPE lat histogram',
      'lat_bucket{le="+Inf"} 4',
      'lat_count 4',
      '# HELP lat Latency',
      'lat_sum 5',
      'other_sum 6',
      '',
    ].join('\n');
    const families = parsePrometheusText(text);
    assert.deepEqual(
      families.map(({ name, type, help, samples }) => [
        name,
        type,
        help,
        samples.map((sample) => sample.name),
      ]),
      [
        ['rpc', 'summary', '', ['rpc', 'rpc_sum', 'rpc_count']],
        ['lat', 'histogram', 'Latency', ['lat_bucket', 'lat_count', 'lat_sum']],
        ['other_sum', 'untyped', '', ['other_sum']],
      ],
    );
  });

  it('merges lines of one family that are not adjacent, as Prometheus does', () => {
    const families = parsePrometheusText('a 1\nb 2\na{x="y"} 3\n');
    assert.deepEqual(
      families.map((family) => [family.name, family.samples.length]),
      [
        ['a', 2],
        ['b', 1],
      ],
    );
  });

  it('keeps a family that has HELP and TYPE but no samples', () => {
    const family = only('# HELP empty Nothing yet\n# TYPE empty counter\n');
    assert.deepEqual(family, { name: 'empty', type: 'counter', help: 'Nothing yet', samples: [] });
  });

  it('does not let a repeated label set hide a change in the next line', () => {
    const text =
      'm{a="1",b="2",c="3"} 1\nm{a="1",b="2",c="3"} 2\nm{a="9",b="2",c="3"} 3\nm{a="9",b="2"} 4\nm{a="9",b="2",c="3",d="4"} 5\nm 6\nm{a="9",b="2",c="3"} 7\n';
    const { samples } = only(text);
    assert.deepEqual(
      samples.map((sample) => sample.labels),
      [
        { a: '1', b: '2', c: '3' },
        { a: '1', b: '2', c: '3' },
        { a: '9', b: '2', c: '3' },
        { a: '9', b: '2' },
        { a: '9', b: '2', c: '3', d: '4' },
        {},
        { a: '9', b: '2', c: '3' },
      ],
    );
    assert.notEqual(samples[0]?.labels, samples[1]?.labels, 'each sample owns its labels object');
  });

  it('catches a duplicate label after a line with the same tail', () => {
    assert.throws(
      () => parsePrometheusText('m{a="1",b="2"} 1\nm{b="1",b="2"} 1\n'),
      /line 2: duplicate label name "b"/,
    );
  });

  it('accepts an empty input and blanks after the last newline', () => {
    assert.deepEqual(parsePrometheusText(''), []);
    assert.deepEqual(values('a 1\n  \t'), [1]);
  });

  it('stays linear on lines that lack spaces, tabs, braces and backslashes', () => {
    // Each of these once risked a search running to the end of the text from every line.
    const lines = 100_000;
    const text = `# HELP m plain help\n${'m{}1.5\n'.repeat(lines)}${'n\t2.5\n'.repeat(lines)}`;
    const started = performance.now();
    const families = parsePrometheusText(text);
    assert.equal(
      families.reduce((sum, family) => sum + family.samples.length, 0),
      2 * lines,
    );
    assert.ok(performance.now() - started < 10_000, 'parsing took quadratic time');
  });
});
