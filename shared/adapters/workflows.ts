/**
 * Workflow executions (`@google-cloud/workflows` ExecutionsClient). In the cloud the client uses its defaults
 * (gRPC, Application Default Credentials). With an endpoint such as `http://127.0.0.1:8091` (the local engine,
 * WORKFLOWS_API_ENDPOINT) it uses the REST transport over plain HTTP and sends no credentials: the same client
 * code, pointed elsewhere.
 */
import { ExecutionsClient } from '@google-cloud/workflows';

type ClientOptions = NonNullable<ConstructorParameters<typeof ExecutionsClient>[0]>;

/**
 * Client options for a REST endpoint given as a URL. `fallback: true` selects google-gax's HTTP/1.1 REST
 * transport; `protocol` and `port` come from the URL (gax defaults to https:443). The auth client adds no
 * headers, so no Application Default Credentials are looked up for a local endpoint.
 */
export function executionsClientOptions(endpoint: string): ClientOptions {
  const url = new URL(endpoint);
  const protocol = url.protocol.replace(':', '');
  if (protocol !== 'http' && protocol !== 'https') throw new Error(`unsupported Workflows endpoint ${endpoint}`);
  const noCredentials = {
    getRequestHeaders: async () => ({}),
    // google-gax's REST transport sends its requests through the auth client's fetch.
    fetch: (input: string, init: RequestInit) => fetch(input, init),
  };
  return {
    fallback: true,
    apiEndpoint: url.hostname,
    port: Number(url.port || (protocol === 'http' ? 80 : 443)),
    protocol,
    authClient: noCredentials as unknown as ClientOptions['authClient'],
  } as ClientOptions;
}

/** The cloud client by default; a REST client without credentials for an explicit endpoint (the local engine). */
export function createExecutionsClient(endpoint?: string): ExecutionsClient {
  return endpoint ? new ExecutionsClient(executionsClientOptions(endpoint)) : new ExecutionsClient();
}

/** The subset of ExecutionsClient this module needs, so callers can pass a stand-in where it makes sense. */
export type ExecutionsApi = Pick<ExecutionsClient, 'createExecution'>;

/**
 * Starts an execution of `workflowPath` (projects/P/locations/L/workflows/W) with `argument` as its JSON
 * argument, and returns the execution's name.
 */
export async function startExecution(client: ExecutionsApi, workflowPath: string, argument: unknown): Promise<string> {
  const [execution] = await client.createExecution({
    parent: workflowPath,
    execution: { argument: JSON.stringify(argument) },
  });
  if (!execution.name) throw new Error(`createExecution for ${workflowPath} returned no execution name`);
  return execution.name;
}
