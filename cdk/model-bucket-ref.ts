import { Fn } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

// The model bucket as other stacks see it: the names of the storage stack's exports of its ARN and name.
// Fixed export names (not CDK's generated ones) keep the stacks loosely coupled and make the prefix-scoped
// IAM resources, and so their cdk-nag acknowledgements, predictable.
export interface ModelBucketRef {
  readonly arnExport: string;
  readonly nameExport: string;
}

// Imports the model bucket into a consuming stack (which must depend on the storage stack).
export function importModelBucket(scope: Construct, id: string, ref: ModelBucketRef): s3.IBucket {
  return s3.Bucket.fromBucketAttributes(scope, id, {
    bucketArn: Fn.importValue(ref.arnExport),
    bucketName: Fn.importValue(ref.nameExport),
  });
}

// The cdk-nag IAM5 finding for object access under `prefix/` of the imported bucket, as cdk-nag spells it.
export function prefixWildcardFinding(ref: ModelBucketRef, prefix: string): string {
  return `AwsSolutions-IAM5[Resource::${ref.arnExport}/${prefix}/*]`;
}
