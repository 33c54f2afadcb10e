// The CDK app (`npx tsx cdk/app.ts`, run by cdk.json): builds the stacks, cdk-nag included, and synthesizes.
import { buildApp } from './build-app.ts';

buildApp().app.synth();
