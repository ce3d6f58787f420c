output "user_pool_id" {
  description = "COGNITO_USER_POOL_ID"
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  value = aws_cognito_user_pool.this.arn
}

output "client_id" {
  description = "COGNITO_CLIENT_ID"
  value       = aws_cognito_user_pool_client.app.id
}
