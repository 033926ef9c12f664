/**
 * The layering rules, checked by dependency-cruiser in `npm test` (`npm run deps`).
 * Layers, inner to outer: shared/core (pure domain) <- shared/adapters, shared/runtime <- functions, service,
 * local, cli. Test kits live in test/ (and *.test.ts beside their code); benchmarks in bench/ may use them.
 */
const TESTS = '(\\.test\\.ts$|^test/)';

/** Modules that do I/O or start processes/threads: the core may import none of them. */
const IO_MODULES = [
  '^(node:)?(fs|fs/promises|net|http|https|http2|tls|dgram|dns|worker_threads|child_process|cluster|os)$',
  '^(pg|pg-copy-streams|ioredis)$',
  '^@google-cloud/',
  '^@grpc/',
  '^google-auth-library$',
  '^fastify',
  '^prom-client$',
];

/** Where the deployables and tools start: every production module must be reachable from one of them. */
const ENTRY_POINTS = [
  '^functions/[^/]+/index\\.ts$',
  '^service/(server|build)\\.ts$',
  '^cli/(?!run\\.ts$)[^/]+\\.ts$',
  '^cli/launch\\.mjs$',
  '^local/stack/(run-local|upload)\\.ts$',
  '^infra/(index|bundle)\\.ts$',
  '^bench/[^/]+\\.ts$',
];

module.exports = {
  forbidden: [
    {
      name: 'core-is-pure',
      comment: 'shared/core is the pure domain: no adapters, runtime, deployables, process.env config, or I/O modules.',
      severity: 'error',
      from: { path: '^shared/core/', pathNot: TESTS },
      to: {
        path: [
          '^shared/(adapters|runtime)/',
          '^shared/config\\.ts$',
          '^(functions|service|local|cli|infra|bench|test)/',
          ...IO_MODULES,
        ],
      },
    },
    {
      name: 'adapters-do-not-import-deployables',
      comment: 'An adapter wraps one backend; it knows no function, service, local or CLI code.',
      severity: 'error',
      from: { path: '^shared/(adapters|runtime)/', pathNot: TESTS },
      to: { path: '^(functions|service|local|cli|infra)/' },
    },
    {
      name: 'functions-stay-apart',
      comment: 'The Cloud Functions import neither the service nor the local emulators nor test kits.',
      severity: 'error',
      from: { path: '^functions/', pathNot: TESTS },
      to: { path: '^(service|local|cli|test)/' },
    },
    {
      name: 'service-stays-apart',
      comment: 'The Cloud Run service imports neither the functions nor the local emulators nor test kits.',
      severity: 'error',
      from: { path: '^service/', pathNot: TESTS },
      to: { path: '^(functions|local|cli|test)/' },
    },
    {
      name: 'no-production-file-imports-tests',
      comment: 'Production code never imports test/ (test kits live there).',
      severity: 'error',
      from: { path: '^(shared|functions|service|local|cli|infra|workflows)/', pathNot: TESTS },
      to: { path: '^test/' },
    },
    {
      name: 'no-production-file-only-for-tests',
      comment:
        'Every production module is reachable from an entry point (a function, the service, a CLI, the local ' +
        'stack, the Pulumi program or a build script): a module only tests import belongs in test/.',
      severity: 'error',
      from: { path: ENTRY_POINTS },
      to: {
        path: '^(shared|functions|service|local|cli|infra)/.+\\.(ts|mjs)$',
        pathNot: [
          TESTS,
          '\\.d\\.ts$',
          ...ENTRY_POINTS,
          // Started as a worker thread through `new URL('./search-worker.mjs', import.meta.url)`, not imported.
          '^shared/runtime/search-worker\\.mjs$',
        ],
        reachable: false,
      },
    },
    {
      name: 'no-cycles',
      comment: 'Modules import in one direction.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|test-artifacts|\\.local-data)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.cjs', '.json', '.d.ts'],
    },
  },
};
