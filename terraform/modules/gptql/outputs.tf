# What the Kustomize overlay needs (k8s/README.md shows where each goes).

output "aws_region" {
  value = var.region
}

output "cluster_name" {
  value = module.eks.cluster_name
}

output "dynamodb_tables" {
  value = module.dynamodb.table_names
}

output "cognito_user_pool_id" {
  value = module.cognito.user_pool_id
}

output "cognito_client_id" {
  value = module.cognito.client_id
}

output "sqs_queue_url" {
  value = module.sqs.queue_url
}

output "sqs_model_queue_urls" {
  value = module.sqs.model_queue_urls
}

output "s3_bucket_name" {
  value = module.s3.files_bucket
}

output "models_bucket" {
  value = module.s3.models_bucket
}

output "redis_endpoint" {
  value = "${module.redis.primary_endpoint}:${module.redis.port}"
}

output "redis_secret_arn" {
  value = module.secrets.redis_secret_arn
}

output "waf_web_acl_arn" {
  value = module.waf.web_acl_arn
}

output "cloudfront_domain_name" {
  value = module.cloudfront.domain_name
}

output "api_role_arn" {
  value = module.irsa.api_role_arn
}

output "worker_role_arn" {
  value = module.irsa.worker_role_arn
}

output "vpc_cidr" {
  value = module.vpc.cidr_block
}
