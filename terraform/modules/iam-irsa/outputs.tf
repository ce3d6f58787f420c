output "api_role_arn" {
  description = "Annotation eks.amazonaws.com/role-arn of ServiceAccount gptql-api."
  value       = aws_iam_role.this["api"].arn
}

output "worker_role_arn" {
  description = "Annotation eks.amazonaws.com/role-arn of ServiceAccount gptql-worker."
  value       = aws_iam_role.this["worker"].arn
}
