import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { SERVICE_NAMES, describeServiceVariables, type ServiceName, type VariableSpec } from './service-config.js';

// docs/configuration.md mirrors the configuration schemas; this keeps the two from drifting.
const DOC = 'docs/configuration.md';
const text = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

interface Row {
  readonly name: string;
  readonly readBy: string;
  readonly defaultCell: string;
  readonly meaning: string;
}

/** The rows of the first table under the `## heading` (one variable per row). */
function tableUnder(heading: string): Row[] {
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`${DOC} has no section "## ${heading}"`);
  const end = text.indexOf('\n## ', start + 1);
  const lines = text.slice(start, end < 0 ? undefined : end).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const table: string[] = [];
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break;
    table.push(line);
  }
  const cells = (line: string) => line.slice(1, -1).split(' | ').map((cell) => cell.trim());
  expect(cells(table[0] ?? '')).toEqual(['variable', 'read by', 'default', 'meaning']);
  return table.slice(2).map((line) => {
    const [name = '', readBy = '', defaultCell = '', meaning = ''] = cells(line);
    const variable = /^`([A-Z0-9_]+)`$/.exec(name)?.[1];
    if (variable === undefined) throw new Error(`${DOC}: "${name}" is not one variable in backticks (one row per variable)`);
    return { name: variable, readBy, defaultCell, meaning };
  });
}

/** What the code says of each variable: the services that read it and its spec in each. */
function variablesInCode(): Map<string, Map<ServiceName, VariableSpec>> {
  const byName = new Map<string, Map<ServiceName, VariableSpec>>();
  const described = describeServiceVariables();
  for (const service of SERVICE_NAMES) {
    for (const [name, spec] of Object.entries(described[service])) {
      const specs = byName.get(name) ?? new Map<ServiceName, VariableSpec>();
      specs.set(service, spec);
      byName.set(name, specs);
    }
  }
  return byName;
}

/**
 * The default cell as the code would write it: `required`; `unset…` for an optional
 * variable without a default; the default in backticks; or, when the services' defaults
 * differ, "`value` (service)" for each.
 */
function expectedDefaultCell(specs: Map<ServiceName, VariableSpec>): (cell: string) => boolean {
  const all = [...specs.values()];
  if (all.every((spec) => spec.required)) return (cell) => cell === 'required';
  if (all.every((spec) => !spec.required && spec.defaultValue === undefined)) return (cell) => /^unset\b/.test(cell);
  const defaults = new Set(all.map((spec) => spec.defaultValue));
  if (defaults.size === 1) return (cell) => /^`([^`]*)`/.exec(cell)?.[1] === all[0]?.defaultValue;
  return (cell) => {
    const documented = new Map([...cell.matchAll(/`([^`]*)` \(([a-z]+)\)/g)].map((match) => [match[2], match[1]]));
    return documented.size === specs.size && [...specs].every(([service, spec]) => documented.get(service) === spec.defaultValue);
  };
}

describe(`${DOC}`, () => {
  const services = tableUnder('Variables of the services');
  const code = variablesInCode();

  it('lists exactly the variables the service schemas read, each once', () => {
    const documented = services.map((row) => row.name);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...code.keys()].sort());
  });

  it('names, for each variable, exactly the services that read it', () => {
    const mismatches = services.flatMap((row) => {
      const readBy = row.readBy.split(',').map((service) => service.trim());
      const expected = SERVICE_NAMES.filter((service) => code.get(row.name)?.has(service) === true);
      return readBy.join(', ') === expected.join(', ') ? [] : [`${row.name}: documented "${row.readBy}", read by ${expected.join(', ')}`];
    });
    expect(mismatches).toEqual([]);
  });

  it('gives, for each variable, the default the code applies (or says it is required or unset)', () => {
    const mismatches = services.flatMap((row) => {
      const specs = code.get(row.name);
      if (specs === undefined) return [];
      return expectedDefaultCell(specs)(row.defaultCell)
        ? []
        : [`${row.name}: documented "${row.defaultCell}", code ${JSON.stringify(Object.fromEntries(specs))}`];
    });
    expect(mismatches).toEqual([]);
  });

  it('says what each variable means', () => {
    expect(services.filter((row) => row.meaning.length < 10).map((row) => row.name)).toEqual([]);
  });

  // The tooling's variables are read by tools/backends, scripts/, bench/ and soak/, which a
  // runtime library must not import (libs never depend on tools), so that table is not
  // checked against code here. What is checked: no service variable hides in it.
  it('keeps service variables out of the development-tooling table', () => {
    const tooling = tableUnder('Variables of the development tooling').map((row) => row.name);
    expect(tooling.length).toBeGreaterThan(0);
    expect(tooling.filter((name) => code.has(name))).toEqual([]);
  });
});
