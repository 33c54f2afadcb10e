import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';

// Object actions per access level; never s3:* and never on the whole bucket.
const OBJECT_ACTIONS = {
  read: ['s3:GetObject'],
  'read-write': [
    's3:GetObject',
    's3:PutObject',
    's3:DeleteObject',
    's3:AbortMultipartUpload',
    's3:ListMultipartUploadParts',
  ],
} as const;

// Grants object access under `prefix/` of a bucket, and s3:ListBucket for listings under that prefix.
// The ListBucket condition is ...IfExists on purpose: a request that carries no s3:prefix (HeadBucket, and
// S3's own check that turns a missing key into 404 rather than 403) must pass, because S3Store.stat() and
// readSupernetAt() probe keys that may not exist (manifest.json in a model folder) and then HeadBucket.
// Listing under another prefix stays denied; a listing that names no prefix could still see key names
// (never contents) of the whole bucket, which holds nothing but supernets and training output.
export function grantPrefixAccess(
  grantee: iam.IGrantable,
  bucket: s3.IBucket,
  prefix: string,
  access: keyof typeof OBJECT_ACTIONS,
): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [...OBJECT_ACTIONS[access]],
      resources: [bucket.arnForObjects(`${prefix}/*`)],
    }),
  );
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: { StringLikeIfExists: { 's3:prefix': [`${prefix}/*`] } },
    }),
  );
}
