# Generation jobs, with a dead-letter queue. The redrive policy does the dead-lettering
# (src/queue/queue-sqs.ts): maxReceiveCount is QUEUE_MAX_DELIVERIES. One queue per model the
# workers serve, named as src/queue/names.ts derives it from SQS_QUEUE_URL's (`jobs`): its name,
# "-", the model's name with dots as underscores. `jobs` itself keeps the jobs that name no model.

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-jobs-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "jobs" {
  name                       = "${var.name}-jobs"
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = 86400
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_deliveries
  })
}

resource "aws_sqs_queue" "model_jobs" {
  for_each                   = toset(var.models)
  name                       = "${var.name}-jobs-${replace(each.value, ".", "_")}"
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = 86400
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_deliveries
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = concat([aws_sqs_queue.jobs.arn], [for queue in aws_sqs_queue.model_jobs : queue.arn])
  })
}
