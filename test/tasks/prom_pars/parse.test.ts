import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Counter,
  Gauge,
  Histogram,
  type OpenMetricsContentType,
  Registry,
  Summary,
} from 'prom-client';
import {
  type MetricFamily,
  parsePrometheusText,
  sampleValueToNumber,
} from '../../../tasks/prom_pars/parse.ts';

/** Label values prom-client must escape, and ones it must not mangle. */
const ODD_VALUES = [
  'say "hi"',
  'C:\\dir\\file',
  'two\nlines',
  'ünïcødé ✓ 🚀',
  '',
  ' spaced ',
  '\\n literal',
  '}{,="',
];

/** Parses what `registry` exposes and checks every family, sample, label and value against its JSON view. */
async function assertRoundTrip(registry: Registry): Promise<MetricFamily[]> {
  const parsed = parsePrometheusText(await registry.metrics());
  const expected = await registry.getMetricsAsJSON();
  assert.deepEqual(
    parsed.map(({ name, type, help }) => ({ name, type, help })),
    expected.map(({ name, type, help }) => ({ name, type, help })),
  );
  for (const [index, metric] of expected.entries()) {
    const samples = parsed[index]?.samples ?? [];
    assert.equal(samples.length, metric.values.length, `samples of ${metric.name}`);
    for (const [k, value] of metric.values.entries()) {
      const sample = samples[k];
      const metricName =
        'metricName' in value && typeof value.metricName === 'string'
          ? value.metricName
          : metric.name;
      assert.equal(sample?.name, metricName);
      const labels = Object.fromEntries(
        Object.entries(value.labels).map(([key, label]) => [key, String(label)]),
      );
      assert.deepEqual(sample.labels, labels, `labels of ${metricName} #${k}`);
      assert.equal(sampleValueToNumber(sample.value), value.value, `value of ${metricName} #${k}`);
    }
  }
  return parsed;
}

describe('parsePrometheusText with prom-client output', () => {
  it('round-trips counters and gauges with odd label values and extreme numbers', async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: 'events_total',
      help: 'Events\nseen, with a \\ backslash',
      labelNames: ['kind'],
      registers: [registry],
    });
    const gauge = new Gauge({
      name: 'temperature_celsius',
      help: 'Temperature',
      labelNames: ['room', 'floor'],
      registers: [registry],
    });
    ODD_VALUES.forEach((kind, index) => {
      counter.inc({ kind }, index * 1.5 + 0.1);
    });
    const numbers = [
      0,
      -1,
      Math.PI,
      1e-7,
      1e21,
      -2.5e-300,
      Number.MAX_SAFE_INTEGER,
      123456789012345.67,
      Number.MAX_VALUE,
    ];
    numbers.forEach((value, index) => {
      gauge.set({ room: ODD_VALUES[index % ODD_VALUES.length] ?? '', floor: String(index) }, value);
    });
    new Gauge({ name: 'unlabelled', help: 'No labels', registers: [registry] }).set(42);
    new Counter({
      name: 'never_incremented_total',
      help: 'Empty',
      labelNames: ['x'],
      registers: [registry],
    });
    await assertRoundTrip(registry);
  });

  it('round-trips NaN and the infinities as their JSON-safe spellings', async () => {
    const registry = new Registry();
    const gauge = new Gauge({
      name: 'special',
      help: 'Special values',
      labelNames: ['which'],
      registers: [registry],
    });
    gauge.set({ which: 'nan' }, Number.NaN);
    gauge.set({ which: 'plus' }, Number.POSITIVE_INFINITY);
    gauge.set({ which: 'minus' }, Number.NEGATIVE_INFINITY);
    const [family] = await assertRoundTrip(registry);
    assert.deepEqual(
      family?.samples.map((sample) => sample.value),
      ['NaN', '+Inf', '-Inf'],
    );
  });

  it('round-trips histograms and groups _bucket, _sum and _count under the family', async () => {
    const registry = new Registry();
    const histogram = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Durations',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.1, 1, 2.5, 10],
      registers: [registry],
    });
    for (const [index, route] of ODD_VALUES.entries()) {
      for (let n = 0; n <= index; n++)
        histogram.observe({ method: n % 2 ? 'GET' : 'POST', route }, n * 0.73);
    }
    const [family] = await assertRoundTrip(registry);
    assert.equal(family?.type, 'histogram');
    const names = new Set(family?.samples.map((sample) => sample.name));
    assert.deepEqual([...names].sort(), [
      'http_request_duration_seconds_bucket',
      'http_request_duration_seconds_count',
      'http_request_duration_seconds_sum',
    ]);
  });

  it('round-trips summaries with quantiles, _sum and _count', async () => {
    const registry = new Registry();
    const summary = new Summary({
      name: 'job_seconds',
      help: 'Job durations',
      labelNames: ['job'],
      percentiles: [0.01, 0.5, 0.9, 0.99],
      registers: [registry],
    });
    for (const job of ODD_VALUES) {
      for (let n = 0; n < 25; n++) summary.observe({ job }, (n * 7) % 13);
    }
    const [family] = await assertRoundTrip(registry);
    assert.equal(family?.type, 'summary');
    assert.equal(family?.samples.length, ODD_VALUES.length * 6);
  });

  it('round-trips a registry with default labels, many families and repeated label sets', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: 'api "v2"', region: 'eu\\west' });
    for (let f = 0; f < 20; f++) {
      const histogram = new Histogram({
        name: `latency_${f}_seconds`,
        help: `Family ${f}`,
        labelNames: ['code'],
        registers: [registry],
      });
      for (const code of ['200', '404', '500']) histogram.observe({ code }, f / 3);
      new Counter({ name: `hits_${f}_total`, help: 'Hits', registers: [registry] }).inc(f);
    }
    const parsed = await assertRoundTrip(registry);
    assert.equal(parsed.length, 40);
  });

  it('reads the OpenMetrics output of prom-client up to # EOF', async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    new Gauge({ name: 'queue_depth', help: 'Depth', registers: [registry] }).set(7);
    const text = await registry.metrics();
    assert.ok(text.endsWith('# EOF\n'));
    const [family] = parsePrometheusText(text);
    assert.deepEqual(family?.samples, [{ name: 'queue_depth', labels: {}, value: 7 }]);
  });
});

describe('parsePrometheusText options', () => {
  it('keeps only the requested families, still validating the others', () => {
    const text =
      '# TYPE a counter\na 1\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_sum 3\nh_count 2\nb 4\n';
    const families = parsePrometheusText(text, { families: ['h', 'missing'] });
    assert.deepEqual(
      families.map((family) => [family.name, family.samples.length]),
      [['h', 3]],
    );
    assert.throws(() => parsePrometheusText(`${text}b{ 5\n`, { families: ['h'] }), /line 8:/);
  });
});
