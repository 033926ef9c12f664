/** Entry point of the `trigger` Cloud Function: configuration, the Executions client, registration. */
import { cloudEvent } from '@google-cloud/functions-framework';
import { createExecutionsClient, startExecution } from '../../shared/adapters/workflows.ts';
import { createLogger } from '../../shared/log.ts';
import { parseTriggerConfig } from './config.ts';
import { makeTriggerHandler } from './handler.ts';

const config = parseTriggerConfig(process.env);
const client = createExecutionsClient(config.workflowsApiEndpoint);

cloudEvent(
  'trigger',
  makeTriggerHandler({
    config,
    logger: createLogger({ fields: { component: 'trigger' }, minSeverity: config.logLevel }),
    startExecution: (argument) => startExecution(client, config.workflowName, argument),
  }),
);
