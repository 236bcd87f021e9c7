/**
 * The prom-client classes rbee uses, imported from their own files instead of prom-client's index.
 * The index also loads what no tier uses (default process metrics, which pull in @opentelemetry/api's
 * 51 modules, the Pushgateway client, cluster aggregation, Summary): ~1.5 MB of RSS in the queen and
 * again in the hive (docs/benchmarks.md "Memory"). prom-client is pinned; a version that moved these
 * files fails the metrics tests at import.
 */
export { default as Registry } from 'prom-client/lib/registry.js';
export { default as Counter } from 'prom-client/lib/counter.js';
export { default as Gauge } from 'prom-client/lib/gauge.js';
export { default as Histogram } from 'prom-client/lib/histogram.js';
