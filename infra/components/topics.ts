import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

export interface TopicsArgs {
  project: string;
  modelPublishedTopic?: string;
  driftAlertsTopic?: string;
}

/** The two Pub/Sub topics: `model-published` (train -> service instances) and `drift-alerts` (service -> you). */
export class Topics extends pulumi.ComponentResource {
  readonly modelPublished: gcp.pubsub.Topic;
  readonly driftAlerts: gcp.pubsub.Topic;

  constructor(name: string, args: TopicsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:Topics', name, {}, opts);
    this.modelPublished = new gcp.pubsub.Topic(
      `${name}-model-published`,
      { project: args.project, name: args.modelPublishedTopic ?? 'model-published' },
      { parent: this },
    );
    this.driftAlerts = new gcp.pubsub.Topic(
      `${name}-drift-alerts`,
      { project: args.project, name: args.driftAlertsTopic ?? 'drift-alerts' },
      { parent: this },
    );
    this.registerOutputs({ modelPublished: this.modelPublished.name, driftAlerts: this.driftAlerts.name });
  }
}
