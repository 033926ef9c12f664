/**
 * The environment contract: every variable a deployable reads (the functions, the service) and the places that
 * set them (the Pulumi program in infra/, the local stack in local/stack/) name, from this one list. The readers
 * (`shared/config.ts`) take an `EnvName`, and the writers build `EnvVars` objects, so a variable that is read but
 * not declared, or set under a misspelt name, is a compile error instead of a silent default.
 */
export const ENV_NAMES = [
  // every deployable
  'GOOGLE_CLOUD_PROJECT',
  'LOG_LEVEL',
  'LOCAL_MODE',
  // Postgres (migrate, load, process, train)
  'PGHOST',
  'PGPORT',
  'PGUSER',
  'PGPASSWORD',
  'PGDATABASE',
  'PGSSLMODE',
  // read by node-postgres itself: the local stack sets `-c role=pipeline_<fn>` so each function runs as its role
  'PGOPTIONS',
  'PG_TLS_CA',
  'PG_CONNECT_TIMEOUT_MS',
  'PG_LOCK_TIMEOUT_MS',
  'PG_STATEMENT_TIMEOUT_MS',
  // migrate: one SCRAM secret per function's database login (JSON), set as each role's password
  'PG_LOGIN_SECRETS',
  // Redis feature store
  'REDIS_URL',
  'REDIS_PASSWORD',
  'REDIS_TLS_CA',
  'REDIS_COMMAND_TIMEOUT_MS',
  'FEATURE_STORE_PREFIX',
  'FEATURE_SETS_KEEP',
  // Cloud Storage
  'DATA_BUCKET',
  'MODELS_BUCKET',
  'STORAGE_API_ENDPOINT',
  'STORAGE_TIMEOUT_MS',
  'STORAGE_MAX_RETRIES',
  // Pub/Sub
  'MODEL_PUBLISHED_TOPIC',
  'DRIFT_ALERTS_TOPIC',
  'PUBSUB_PUBLISH_TIMEOUT_MS',
  'PUBSUB_EMULATOR_HOST',
  // read by the Google client libraries: no metadata server to probe for on one machine
  'METADATA_SERVER_DETECTION',
  // trigger and Workflows
  'UPLOAD_PREFIX',
  'WORKFLOW_NAME',
  'WORKFLOWS_API_ENDPOINT',
  // load
  'MAX_UPLOAD_BYTES',
  'MAX_REJECTED_SHARE',
  // process
  'SPLIT_SEED',
  'TEST_SIZE',
  'MAX_TRAINING_ROWS',
  // train and fit
  'MIN_ACCURACY',
  'SEARCH_CANDIDATES',
  'SEARCH_SEED',
  'SEARCH_MAX_ROWS',
  'VALIDATION_MAX_ROWS',
  'TRAIN_WORKERS',
  'PROMOTION_ALPHA',
  'VALIDATION_CONSISTENCY_ALPHA',
  'VALIDATION_CONSISTENCY_MIN_DROP',
  'VALIDATION_CONSISTENCY_MIN_ROWS',
  'VALIDATION_MAX_JS',
  'VALIDATION_MAX_LABEL_SHARE_DELTA',
  'VALIDATION_MAX_LINF',
  'VALIDATION_MAX_OUT_OF_RANGE',
  // service
  'HOST',
  'PORT',
  'AIP_HTTP_PORT',
  'AIP_PREDICT_ROUTE',
  'AIP_HEALTH_ROUTE',
  'MAX_BATCH',
  'REQUEST_TIMEOUT_MS',
  'MODEL_POLL_SECONDS',
  'MODEL_MAX_BYTES',
  'MODEL_MAX_DEPTH',
  'MODEL_MAX_NODES_PER_TREE',
  'MODEL_MAX_TREES',
  'PUSH_AUDIENCE',
  'PUSH_SERVICE_ACCOUNT',
  'DRIFT_CORRECTION',
  'DRIFT_ERT',
  'DRIFT_EVERY',
  'DRIFT_WINDOW',
  'DRIFT_ROWS_PER_REQUEST',
  'DRIFT_ALERT_MIN_INTERVAL_SECONDS',
  'PUBLIC_MODE',
  'RATE_LIMIT_PER_MINUTE',
] as const;

export type EnvName = (typeof ENV_NAMES)[number];

/** Variables to set, by contract name: `EnvVars<pulumi.Input<string>>` in infra/, `EnvVars<string>` locally. */
export type EnvVars<T> = { readonly [K in EnvName]?: T };
