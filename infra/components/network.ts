import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';

export interface NetworkArgs {
  project: string;
  region: string;
  /** Range of the subnet the functions and the service egress from (Direct VPC egress). */
  subnetCidr?: string;
}

/**
 * A VPC with one regional subnet for Direct VPC egress, and private service access: a reserved range peered
 * with Google's service producer network, where Cloud SQL and Memorystore get their private addresses.
 */
export class Network extends pulumi.ComponentResource {
  readonly network: gcp.compute.Network;
  readonly subnet: gcp.compute.Subnetwork;
  /** Depend on this before creating anything that takes an address from the private services range. */
  readonly privateServiceAccess: gcp.servicenetworking.Connection;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('survival:infra:Network', name, {}, opts);
    this.network = new gcp.compute.Network(
      `${name}-vpc`,
      { project: args.project, autoCreateSubnetworks: false, routingMode: 'REGIONAL' },
      { parent: this },
    );
    this.subnet = new gcp.compute.Subnetwork(
      `${name}-egress`,
      {
        project: args.project,
        region: args.region,
        network: this.network.id,
        ipCidrRange: args.subnetCidr ?? '10.8.0.0/24',
        // Functions and the service reach Google APIs (GCS, Pub/Sub, Secret Manager) without public IPs.
        privateIpGoogleAccess: true,
      },
      { parent: this },
    );
    const range = new gcp.compute.GlobalAddress(
      `${name}-psa-range`,
      {
        project: args.project,
        network: this.network.id,
        purpose: 'VPC_PEERING',
        addressType: 'INTERNAL',
        prefixLength: 16,
      },
      { parent: this },
    );
    this.privateServiceAccess = new gcp.servicenetworking.Connection(
      `${name}-psa`,
      { network: this.network.id, service: 'servicenetworking.googleapis.com', reservedPeeringRanges: [range.name] },
      { parent: this },
    );
    this.registerOutputs({ network: this.network.id, subnet: this.subnet.id });
  }
}
