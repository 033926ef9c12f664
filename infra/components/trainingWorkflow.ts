import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { PipelineFunction } from './pipelineFunction.ts';

export interface TrainingWorkflowArgs {
  project: string;
  region: string;
  workflowName: string;
  /** The contents of workflows/training.yaml, deployed unchanged (the local engine runs the same file). */
  source: string;
  /** The functions the workflow calls, by the user env var that carries each one's URL (LOAD_URL, ...). */
  steps: Record<string, PipelineFunction>;
  /** Further user env vars of the workflow (plain settings the YAML reads with `sys.get_env`). */
  env?: Record<string, string>;
  deletionProtection: boolean;
}

/**
 * The Cloud Workflows workflow that runs load -> process -> train. Its account is the only member with
 * run.invoker on those functions; the URLs reach the YAML through `userEnvVars` (`sys.get_env`).
 */
export class TrainingWorkflow extends pulumi.ComponentResource {
  readonly serviceAccount: gcp.serviceaccount.Account;
  readonly workflow: gcp.workflows.Workflow;
  /** projects/P/locations/L/workflows/W, the trigger's WORKFLOW_NAME. */
  readonly fullName: pulumi.Output<string>;
  private readonly workflowName: string;

  constructor(name: string, args: TrainingWorkflowArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:TrainingWorkflow', name, {}, opts);
    this.workflowName = args.workflowName;
    this.serviceAccount = new gcp.serviceaccount.Account(
      `${name}-sa`,
      { project: args.project, accountId: `${args.workflowName}-wf`, displayName: `${args.workflowName} workflow` },
      { parent: this },
    );
    const member = pulumi.interpolate`serviceAccount:${this.serviceAccount.email}`;
    const invokers = Object.entries(args.steps).map(([envVar, fn]) =>
      fn.allowInvokers(`invoker-${envVar.replace(/_URL$/, '').toLowerCase()}`, [member], this),
    );
    // Call logging (LOG_ERRORS_ONLY) writes to Cloud Logging as this account.
    const logWriter = new gcp.projects.IAMMember(
      `${name}-log-writer`,
      { project: args.project, role: 'roles/logging.logWriter', member },
      { parent: this },
    );
    this.workflow = new gcp.workflows.Workflow(
      `${name}-workflow`,
      {
        project: args.project,
        region: args.region,
        name: args.workflowName,
        description: 'CSV upload -> load (Cloud SQL) -> process (Redis feature store) -> train (model in GCS)',
        serviceAccount: this.serviceAccount.id,
        sourceContents: args.source,
        userEnvVars: {
          ...args.env,
          ...Object.fromEntries(Object.entries(args.steps).map(([envVar, fn]) => [envVar, fn.url])),
        },
        callLogLevel: 'LOG_ERRORS_ONLY',
        deletionProtection: args.deletionProtection,
      },
      { parent: this, dependsOn: [...invokers, logWriter] },
    );
    this.fullName = pulumi.interpolate`projects/${args.project}/locations/${args.region}/workflows/${this.workflow.name}`;
    this.registerOutputs({ name: this.workflow.name, fullName: this.fullName });
  }

  /**
   * Lets `member` start executions of this workflow and of no other: a custom role holding only
   * `workflows.executions.create` (not `roles/workflows.invoker`, which also reads, lists and cancels executions),
   * granted on the project with an IAM Condition on this workflow's resource name, because Workflows has no
   * per-workflow IAM policy. A condition Workflows could not evaluate denies (fails closed), it never widens.
   */
  allowExecutionsBy(name: string, member: pulumi.Input<string>, project: string): gcp.projects.IAMMember {
    const role = new gcp.projects.IAMCustomRole(
      `${name}-role`,
      {
        project,
        // Role ids allow letters, digits, `_` and `.` only.
        roleId: `${this.workflowName.replace(/[^A-Za-z0-9]/g, '_')}_starter`,
        title: 'Start executions of the training workflow',
        permissions: ['workflows.executions.create'],
      },
      { parent: this },
    );
    return new gcp.projects.IAMMember(
      name,
      {
        project,
        role: role.name,
        member,
        condition: {
          title: 'this-workflow-only',
          description: 'executions of the training workflow, no other workflow',
          expression: pulumi.interpolate`resource.name == "${this.fullName}" || resource.name.startsWith("${this.fullName}/executions/")`,
        },
      },
      { parent: this },
    );
  }
}
