import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

// The function to watch, the p99 latency that is too slow, and where to send alarms (optional).
export interface ServingAlarmsProps {
  readonly function: lambda.IFunction;
  readonly p99LatencyMs: number;
  readonly alarmTopicArn?: string;
}

// Alarms on the serving function: p99 Duration over the threshold in 3 of 5 minutes, any Errors, any Throttles.
export class ServingAlarms extends Construct {
  readonly p99Latency: cloudwatch.Alarm;
  readonly errors: cloudwatch.Alarm;
  readonly throttles: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ServingAlarmsProps) {
    super(scope, id);
    const fn = props.function;
    this.p99Latency = new cloudwatch.Alarm(this, 'P99Latency', {
      alarmDescription: `p99 Duration above ${props.p99LatencyMs} ms in 3 of the last 5 minutes`,
      metric: fn.metricDuration({ statistic: 'p99', period: Duration.minutes(1) }),
      threshold: props.p99LatencyMs,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.errors = new cloudwatch.Alarm(this, 'Errors', {
      alarmDescription:
        'the function failed (uncaught error, timeout or out of memory) in the last 5 minutes',
      metric: fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.throttles = new cloudwatch.Alarm(this, 'Throttles', {
      alarmDescription: 'requests were throttled (concurrency exhausted) in the last 5 minutes',
      metric: fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopicArn !== undefined) {
      const action = new SnsAction(sns.Topic.fromTopicArn(this, 'Topic', props.alarmTopicArn));
      for (const alarm of [this.p99Latency, this.errors, this.throttles]) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }
}
