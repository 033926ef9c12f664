import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

export interface DeadLetterArgs {
  project: string;
  /** The dead-letter topic's name. */
  topicName: string;
  /** Deliveries of one message before Pub/Sub moves it to the dead-letter topic (5 to 100). */
  maxDeliveryAttempts: number;
}

/**
 * Where a push subscription's undeliverable messages go: a topic, and a pull subscription on it that keeps them
 * 7 days for a look (`gcloud pubsub subscriptions pull`), since a topic without a subscription drops what it gets.
 * `policy` goes into the source subscription; `allowFor` gives Pub/Sub's service agent the two grants dead
 * lettering needs (publish to this topic, acknowledge on the source subscription).
 */
export class DeadLetter extends pulumi.ComponentResource {
  readonly topic: gcp.pubsub.Topic;
  readonly subscription: gcp.pubsub.Subscription;
  readonly policy: { deadLetterTopic: pulumi.Output<string>; maxDeliveryAttempts: number };
  private readonly project: string;
  private readonly agent: pulumi.Output<string>;

  constructor(name: string, args: DeadLetterArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:DeadLetter', name, {}, opts);
    this.project = args.project;
    this.topic = new gcp.pubsub.Topic(
      `${name}-topic`,
      { project: args.project, name: args.topicName },
      { parent: this },
    );
    this.subscription = new gcp.pubsub.Subscription(
      `${name}-kept`,
      {
        project: args.project,
        name: `${args.topicName}-kept`,
        topic: this.topic.id,
        messageRetentionDuration: '604800s',
        expirationPolicy: { ttl: '' },
      },
      { parent: this },
    );
    this.policy = { deadLetterTopic: this.topic.id, maxDeliveryAttempts: args.maxDeliveryAttempts };
    const project = gcp.organizations.getProjectOutput({ projectId: args.project }, { parent: this });
    this.agent = pulumi.interpolate`serviceAccount:service-${project.number}@gcp-sa-pubsub.iam.gserviceaccount.com`;
    new gcp.pubsub.TopicIAMMember(
      `${name}-agent-publishes`,
      { project: args.project, topic: this.topic.name, role: 'roles/pubsub.publisher', member: this.agent },
      { parent: this },
    );
    this.registerOutputs({ topic: this.topic.name });
  }

  /** Lets Pub/Sub acknowledge on `source` the messages it forwards here. */
  allowFor(name: string, source: gcp.pubsub.Subscription): gcp.pubsub.SubscriptionIAMMember {
    return new gcp.pubsub.SubscriptionIAMMember(
      name,
      { project: this.project, subscription: source.name, role: 'roles/pubsub.subscriber', member: this.agent },
      { parent: this },
    );
  }
}
