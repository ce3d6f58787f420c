/**
 * Where the jobs of one model wait, on each backend: one place for the names that the API, the
 * workers, the configuration checks and the deployment (KEDA, Terraform) must agree on.
 */

/**
 * A model's name as MODEL_PATH gives it. It becomes part of Redis keys and SQS queue names, so it
 * keeps to characters that are safe in both (dots aside, see `modelQueueUrl`).
 */
export const MODEL_NAME = /^[A-Za-z0-9._-]{1,64}$/;
export const MODEL_NAME_RULE = 'letters, digits, . _ - only, at most 64 characters';

/**
 * The Redis Stream of one model's jobs. `:model:` keeps every model stream apart from the other
 * keys under the jobs key (`<key>:dead`, `<key>:models`): a model named `dead` cannot collide.
 * The jobs key itself stays the stream of jobs that name no model (an earlier release's).
 */
export const modelStreamKey = (streamKey: string, model: string) => `${streamKey}:model:${model}`;

/** The Redis set of the models whose streams exist under `streamKey`, for the queue's total depth. */
export const modelSetKey = (streamKey: string) => `${streamKey}:models`;

/** SQS queue names: letters, digits, hyphens and underscores, at most 80 (AWS's rule). */
export const SQS_QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** The queue name an SQS queue URL ends with (`https://sqs.<region>.amazonaws.com/<account>/<name>`). */
export const sqsQueueName = (queueUrl: string) => new URL(queueUrl).pathname.split('/').filter(Boolean).at(-1) ?? '';

/**
 * The SQS queue of one model: SQS_QUEUE_URL's queue name with `-<model>` appended, dots written
 * as underscores (SQS names allow no dots). SQS_QUEUE_URL's own queue keeps the jobs that name
 * no model. Operators create one queue per model served (terraform/modules/sqs `models`).
 */
export function modelQueueUrl(queueUrl: string, model: string): string {
  const url = new URL(queueUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}-${model.replaceAll('.', '_')}`;
  return url.toString();
}
