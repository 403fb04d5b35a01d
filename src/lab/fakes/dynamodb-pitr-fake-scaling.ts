/**
 * The FAKE Application Auto Scaling of the DynamoDB PITR fake (./dynamodb-pitr-fake.ts), answering
 * `AnyScaleFrontendService.*` in the JSON 1.1 protocol: scalable targets and target-tracking policies kept
 * in memory, per (resource id, dimension). Nothing scales: it only remembers what was registered, which is
 * what a restore drops and the engine must re-apply.
 */
import { jsonAnswer, WireError, type WireAnswer } from './dynamodb-pitr-fake-wire.ts';

const SCALING_JSON = 'application/x-amz-json-1.1';
type Json = Record<string, unknown>;
const str = (v: unknown, otherwise = ''): string => (typeof v === 'string' ? v : otherwise);

interface Target {
  readonly ResourceId: string;
  readonly ScalableDimension: string;
  readonly MinCapacity: number;
  readonly MaxCapacity: number;
}
interface Policy {
  readonly PolicyName: string;
  readonly ResourceId: string;
  readonly ScalableDimension: string;
  readonly PolicyType: string;
  readonly TargetTrackingScalingPolicyConfiguration?: Json;
}

export class FakeAutoScaling {
  private targets: Target[] = [];
  private policies: Policy[] = [];

  handle(action: string, data: Json): WireAnswer {
    try {
      return jsonAnswer(this.answer(action, data), SCALING_JSON);
    } catch (error) {
      if (!(error instanceof WireError)) throw error;
      return jsonAnswer({ __type: error.type, message: error.message }, SCALING_JSON, error.status);
    }
  }

  /** A deleted table's targets and policies go with it. */
  dropResource(resourceId: string): void {
    this.targets = this.targets.filter((t) => t.ResourceId !== resourceId);
    this.policies = this.policies.filter((p) => p.ResourceId !== resourceId);
  }

  private answer(action: string, data: Json): Json {
    const resourceId = str(data.ResourceId);
    const dimension = str(data.ScalableDimension);
    switch (action) {
      case 'RegisterScalableTarget': {
        const existing = this.targets.find(
          (t) => t.ResourceId === resourceId && t.ScalableDimension === dimension,
        );
        this.targets = [
          ...this.targets.filter((t) => t !== existing),
          {
            ResourceId: resourceId,
            ScalableDimension: dimension,
            MinCapacity: Number(data.MinCapacity ?? existing?.MinCapacity ?? 1),
            MaxCapacity: Number(data.MaxCapacity ?? existing?.MaxCapacity ?? 1),
          },
        ];
        return { ScalableTargetARN: `arn:aws:application-autoscaling:fake:scalable-target/${resourceId}` };
      }
      case 'DeregisterScalableTarget':
        this.targets = this.targets.filter(
          (t) => !(t.ResourceId === resourceId && t.ScalableDimension === dimension),
        );
        this.policies = this.policies.filter(
          (p) => !(p.ResourceId === resourceId && p.ScalableDimension === dimension),
        );
        return {};
      case 'PutScalingPolicy': {
        if (!this.targets.some((t) => t.ResourceId === resourceId && t.ScalableDimension === dimension))
          throw new WireError(
            'ObjectNotFoundException',
            `No scalable target registered for ${resourceId} ${dimension}`,
          );
        const name = String(data.PolicyName);
        this.policies = [
          ...this.policies.filter((p) => !(p.ResourceId === resourceId && p.PolicyName === name)),
          {
            PolicyName: name,
            ResourceId: resourceId,
            ScalableDimension: dimension,
            PolicyType: str(data.PolicyType, 'TargetTrackingScaling'),
            ...(data.TargetTrackingScalingPolicyConfiguration === undefined
              ? {}
              : {
                  TargetTrackingScalingPolicyConfiguration:
                    data.TargetTrackingScalingPolicyConfiguration as Json,
                }),
          },
        ];
        return { PolicyARN: `arn:aws:autoscaling:fake:scalingPolicy:${resourceId}:${name}`, Alarms: [] };
      }
      case 'DescribeScalableTargets': {
        const ids = data.ResourceIds as string[] | undefined;
        return {
          ScalableTargets: this.targets
            .filter((t) => ids === undefined || ids.includes(t.ResourceId))
            .map((t) => ({
              ...t,
              ServiceNamespace: 'dynamodb',
              RoleARN: 'arn:aws:iam::fake:role/scaling',
              CreationTime: 0,
            })),
        };
      }
      case 'DescribeScalingPolicies':
        return {
          ScalingPolicies: this.policies
            .filter((p) => data.ResourceId === undefined || p.ResourceId === resourceId)
            .map((p) => ({
              ...p,
              ServiceNamespace: 'dynamodb',
              PolicyARN: `arn:fake:${p.PolicyName}`,
              CreationTime: 0,
            })),
        };
      default:
        throw new WireError('UnknownOperationException', `The fake does not implement ${action}`);
    }
  }
}
