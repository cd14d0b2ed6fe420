// Jest runs the TypeScript sources through swc (no type checking here: `npm run typecheck`
// does that) as native ES modules, hence `--experimental-vm-modules` in the npm scripts.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } }],
};
const shared = {
  transform,
  extensionsToTreatAsEsm: ['.ts'],
  // Sources import siblings as `./x.js` (NodeNext); under Jest those are the `.ts` files.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};

/** @type {import('jest').Config} */
export default {
  // Integration tests start real processes; a hook waiting for the reaper takes seconds.
  testTimeout: 60_000,
  // The run must end once results are written, whatever a library left open in the main
  // process (the global setup's clients): a run that never returns is worse than a warning.
  forceExit: true,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/libs/*/src/**/*.test.ts', '<rootDir>/services/*/src/**/*.test.ts', '<rootDir>/tools/*/src/**/*.test.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/libs/*/test/**/*.test.ts', '<rootDir>/tools/*/test/**/*.test.ts', '<rootDir>/services/*/test/**/*.test.ts', '<rootDir>/deploy/test/**/*.test.ts', '<rootDir>/soak/test/**/*.test.ts'],
      globalSetup: '<rootDir>/tools/testing/dist/global-setup.js',
      globalTeardown: '<rootDir>/tools/testing/dist/global-teardown.js',
    },
  ],
};
