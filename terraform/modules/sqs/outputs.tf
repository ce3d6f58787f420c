output "queue_url" {
  description = "SQS_QUEUE_URL"
  value       = aws_sqs_queue.jobs.id
}

output "queue_arn" {
  value = aws_sqs_queue.jobs.arn
}

output "dead_letter_queue_arn" {
  value = aws_sqs_queue.dead_letter.arn
}
