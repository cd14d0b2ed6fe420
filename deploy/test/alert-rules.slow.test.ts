import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { goToolBinary } from '@imagehost/backends';

// Every alert of the PrometheusRule evaluated by Prometheus' own rule engine (`promtool test
// rules`) on the synthetic series of deploy/monitoring/tests: each fires where it should and
// stays silent where it should not, so a renamed metric or a broken expression fails here.

const root = fileURLToPath(new URL('../../', import.meta.url));
const PROMTOOL = 'github.com/prometheus/prometheus/cmd/promtool';
const PROMTOOL_VERSION = 'v0.316.0';
const TESTS_DIR = join(root, 'deploy/monitoring/tests');

interface Rule {
  alert: string;
  expr: string;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}
interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}

const prometheusRule = parse(readFileSync(join(root, 'deploy/monitoring/prometheus-rules.yaml'), 'utf8')) as { spec: { groups: RuleGroup[] } };
const groups = prometheusRule.spec.groups;
const alerts = groups.flatMap((group) => group.rules);
const testFiles = readdirSync(TESTS_DIR).filter((file) => file.endsWith('.yaml'));

let promtool: string;
let workDir: string;

// The first run on a machine builds promtool with Go: over 15 minutes while the rest of the
// suite loads both cores, seconds once it is cached.
beforeAll(async () => {
  promtool = await goToolBinary(PROMTOOL, PROMTOOL_VERSION);
  workDir = mkdtempSync(join(tmpdir(), 'imagehost-alert-rules-'));
}, 2_400_000);

afterAll(() => {
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

/** Runs promtool on the rule groups as the test files' `rules.yaml`; its exit code and output. */
async function promtoolTests(ruleGroups: RuleGroup[]): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(workDir, 'run-'));
  // Annotations are left out: promtool compares them in full, and they are checked below.
  const bare = ruleGroups.map((group) => ({ ...group, rules: group.rules.map(({ annotations: _, ...rule }) => rule) }));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: bare }));
  for (const file of testFiles) copyFileSync(join(TESTS_DIR, file), join(dir, file));
  try {
    const { stdout, stderr } = await promisify(execFile)(promtool, ['test', 'rules', ...testFiles.map((file) => join(dir, file))]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('deploy/monitoring/prometheus-rules.yaml', () => {
  it('passes `promtool check rules`: expressions and annotation templates parse', async () => {
    const file = join(workDir, 'check.yaml');
    writeFileSync(file, stringify({ groups }));
    const { stdout } = await promisify(execFile)(promtool, ['check', 'rules', file]);
    expect(stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it('fires and stays silent as every test case in deploy/monitoring/tests expects', async () => {
    const { code, output } = await promtoolTests(groups);
    expect([code, output]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });

  it('has for every alert a case where it fires and one where it does not', () => {
    const cases = testFiles.flatMap((file) =>
      (parse(readFileSync(join(TESTS_DIR, file), 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] }).tests.flatMap((test) => test.alert_rule_test ?? []),
    );
    for (const { alert } of alerts) {
      const own = cases.filter((c) => c.alertname === alert);
      expect([alert, own.some((c) => (c.exp_alerts ?? []).length > 0), own.some((c) => (c.exp_alerts ?? []).length === 0)]).toEqual([alert, true, true]);
    }
    expect(alerts.length).toBeGreaterThanOrEqual(13);
  });

  it('fails those tests when an alert names a metric that is not there (a rename)', async () => {
    const renamed = groups.map((group) => ({
      ...group,
      rules: group.rules.map((rule) => ({ ...rule, expr: rule.expr.replaceAll('imagehost_sweep_last_success_timestamp_seconds', 'imagehost_sweep_last_success_seconds') })),
    }));
    const { code, output } = await promtoolTests(renamed);
    expect(code).not.toBe(0);
    expect(output).toContain('ImagehostSweepNotRunning');
  });

  it('gives every alert a summary, a description and a runbook_url to its own section of docs/runbooks.md', () => {
    const runbooks = readFileSync(join(root, 'docs/runbooks.md'), 'utf8');
    // GitHub's anchors: a heading lower-cased, spaces as hyphens, other punctuation dropped.
    const anchors = new Set([...runbooks.matchAll(/^#{2,3} (.+)$/gm)].map((m) => (m[1] ?? '').trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-')));
    for (const { alert, annotations } of alerts) {
      expect([alert, typeof annotations?.summary, typeof annotations?.description]).toEqual([alert, 'string', 'string']);
      expect([alert, annotations?.runbook_url]).toEqual([alert, `https://imagehost.invalid/docs/runbooks.md#${alert.toLowerCase()}`]);
      expect([alert, anchors.has(alert.toLowerCase())]).toEqual([alert, true]);
    }
  });
});
