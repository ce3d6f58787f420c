# Secrets Manager holds what pods must not read from a ConfigMap. The Kubernetes Secret
# gptql-redis (keys url and auth-token) is made from it: by External Secrets Operator, or by the
# command in k8s/README.md.

resource "aws_secretsmanager_secret" "redis" {
  name                    = "${var.name}/redis"
  description             = "gptql Redis: REDIS_URL (rediss:// with the auth token) and the token alone (KEDA)"
  recovery_window_in_days = var.recovery_window_in_days
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id = aws_secretsmanager_secret.redis.id
  secret_string = jsonencode({
    url          = var.redis_url
    "auth-token" = var.redis_auth_token
  })
}

resource "random_password" "origin_verify" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "origin_verify" {
  name                    = "${var.name}/origin-verify"
  description             = "Header value CloudFront adds and the ALB's WAF requires"
  recovery_window_in_days = var.recovery_window_in_days
}

resource "aws_secretsmanager_secret_version" "origin_verify" {
  secret_id     = aws_secretsmanager_secret.origin_verify.id
  secret_string = random_password.origin_verify.result
}
