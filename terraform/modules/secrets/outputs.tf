output "redis_secret_arn" {
  value = aws_secretsmanager_secret.redis.arn
}

output "origin_verify_secret" {
  value     = random_password.origin_verify.result
  sensitive = true
}
