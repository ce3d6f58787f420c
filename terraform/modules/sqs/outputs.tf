output "queue_url" {
  description = "SQS_QUEUE_URL"
  value       = aws_sqs_queue.jobs.id
}

output "model_queue_urls" {
  description = "Each model's jobs queue, as the workers derive it from SQS_QUEUE_URL (for the KEDA triggers)."
  value       = { for model, queue in aws_sqs_queue.model_jobs : model => queue.id }
}

output "queue_arns" {
  description = "Every jobs queue: SQS_QUEUE_URL's and each model's."
  value       = concat([aws_sqs_queue.jobs.arn], [for queue in aws_sqs_queue.model_jobs : queue.arn])
}

output "dead_letter_queue_arn" {
  value = aws_sqs_queue.dead_letter.arn
}
