/**
 * A local Cloud Workflows engine: an interpreter of the workflow syntax the product uses (see README.md for the
 * supported subset) behind the Workflow Executions REST API.
 */
export { type Expr, parseExpression } from './expression.ts';
export { builtinRetryPredicate, type LogEntry, type RunOptions, runWorkflow, type StepEvent } from './interpreter.ts';
export { loadWorkflow, type Program, WorkflowSyntaxError } from './program.ts';
export {
  type EngineLogEntry,
  type EngineStepEvent,
  type ExecutionResource,
  type ExecutionState,
  startWorkflowsEngine,
  type WorkflowsEngine,
  type WorkflowsEngineOptions,
} from './server.ts';
export { type Value, WorkflowError } from './values.ts';
