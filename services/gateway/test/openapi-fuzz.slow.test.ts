import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { SCHEMATHESIS_VERSION, TestStack, schemathesisCommand } from '@imagehost/testing';

// A property-based fuzzer driven by the OpenAPI document the gateway serves: Schemathesis
// (installed by the test tooling on first use) generates requests from /openapi.json, valid
// and invalid, against the real gateway, ingest and reaper, and checks every answer against
// the document. Which checks run, and which are left out and why: docs/development.md.

/** Cases per operation in the fuzzing phase: with the coverage phase 1 374 cases, 35–100 s on 2 cores. */
const MAX_EXAMPLES = 250;
/** Fixed, so a failure replays; change it to explore other cases. */
const SEED = 20261206;

const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'positive_data_acceptance',
  'missing_required_header',
  'unsupported_method',
  'allow_header_conformance',
];

// A schema-valid request may still be refused for what no schema states: bytes that are not
// a JPEG or PNG or do not decode (415, 422), a filename extension (415), a Range past the
// image's end (416). Any other refusal of a valid request is a gap in the document.
// A request that breaks the schema is refused 400 (and the like), or 413 when its body is over
// the route's size limit, which is checked before the body is parsed.
const CONFIG = `
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "415", "416", "422"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
`;

let stack: TestStack;
let command: readonly string[];
const workDir = mkdtempSync(join(tmpdir(), 'imagehost-openapi-fuzz-'));

beforeAll(async () => {
  // One client sends every case: the per-client report limit would refuse valid reports (429).
  [stack, command] = await Promise.all([TestStack.start({ env: { REPORT_RATE_LIMIT: '0' } }), schemathesisCommand()]);
  writeFileSync(join(workDir, 'schemathesis.toml'), CONFIG);
}, 300_000);

afterAll(async () => {
  await stack.stop();
  rmSync(workDir, { recursive: true, force: true });
});

function schemathesis(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  const [executable = '', ...prefix] = command;
  return new Promise((resolve) => {
    let output = '';
    // In its own folder: Hypothesis keeps its example database in the working directory.
    const child = spawn(executable, [...prefix, '--config-file', join(workDir, 'schemathesis.toml'), ...args], {
      cwd: workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('close', (code) => resolve({ code, output }));
  });
}

it(`finds no 5xx, no answer off the document and no valid request refused (Schemathesis ${SCHEMATHESIS_VERSION})`, async () => {
  const started = performance.now();
  const { code, output } = await schemathesis([
    'run',
    stack.url('/openapi.json'),
    '--checks',
    CHECKS.join(','),
    // No stateful phase: see docs/development.md.
    '--phases',
    'examples,coverage,fuzzing',
    '--max-examples',
    String(MAX_EXAMPLES),
    '--seed',
    String(SEED),
    '--workers',
    '2',
    '--request-timeout',
    '30',
  ]);
  const generated = /(\d+) generated/.exec(output)?.[1];
  const summary = output.slice(output.indexOf('SUMMARY'));
  process.stdout.write(`schemathesis: ${generated ?? '?'} cases in ${Math.round((performance.now() - started) / 1000)} s, exit ${code}\n${summary}\n`);
  // The whole report when it fails: each failure with the curl line that reproduces it.
  expect([code, code === 0 ? '' : output]).toEqual([0, '']);
  expect(Number(generated)).toBeGreaterThan(0);
  for (const service of stack.processes) expect([service.name, service.exit]).toEqual([service.name, undefined]);
}, 600_000);
