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
// The tiers that need real backends share one set, started by the first of them to run and
// stopped by the last (tools/testing/src/global-setup.ts).
const withBackends = {
  ...shared,
  globalSetup: '<rootDir>/tools/testing/dist/global-setup.js',
  globalTeardown: '<rootDir>/tools/testing/dist/global-teardown.js',
};
const packageTests = ['<rootDir>/libs/*/test/**/', '<rootDir>/tools/*/test/**/', '<rootDir>/services/*/test/**/'];

/** @type {import('jest').Config} */
export default {
  // Integration tests start real processes; a hook waiting for the reaper takes seconds.
  testTimeout: 60_000,
  // The run must end once results are written, whatever a library left open in the main
  // process (the global setup's clients): a run that never returns is worse than a warning.
  forceExit: true,
  projects: [
    {
      // Beside the code; no backend, no process, no port.
      ...shared,
      displayName: 'unit',
      // The workspace packages from their sources, so `npm run test:fast` needs no build.
      moduleNameMapper: {
        '^@imagehost/(backends|testing)$': '<rootDir>/tools/$1/src/index.ts',
        '^@imagehost/image-format/validate$': '<rootDir>/libs/image-format/src/validate-image.ts',
        '^@imagehost/image-format/perceptual$': '<rootDir>/libs/image-format/src/perceptual-hash.ts',
        '^@imagehost/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
        ...shared.moduleNameMapper,
      },
      testMatch: ['<rootDir>/libs/*/src/**/*.test.ts', '<rootDir>/services/*/src/**/*.test.ts', '<rootDir>/tools/*/src/**/*.test.ts'],
    },
    {
      // Each library on real backends, no service process.
      ...withBackends,
      displayName: 'integration',
      testMatch: packageTests.map((folder) => `${folder}*.test.ts`),
      testPathIgnorePatterns: [...shared.testPathIgnorePatterns, '\\.e2e\\.test\\.ts$', '\\.slow\\.test\\.ts$'],
    },
    {
      // The real service processes on real backends.
      ...withBackends,
      displayName: 'e2e',
      testMatch: packageTests.map((folder) => `${folder}*.e2e.test.ts`),
    },
    {
      // Topologies, the browser, the image build replay, the deployment and alert tools, the soak.
      ...withBackends,
      displayName: 'slow',
      testMatch: [...packageTests.map((folder) => `${folder}*.slow.test.ts`), '<rootDir>/deploy/test/**/*.slow.test.ts', '<rootDir>/soak/test/**/*.slow.test.ts'],
    },
  ],
};
