# One gptql environment on AWS: everything k8s/ expects to exist. environments/* call this
# module with their sizes; its outputs are the values the Kustomize overlay needs.

locals {
  name = "gptql-${var.environment}"
}

module "vpc" {
  source             = "../vpc"
  name               = local.name
  region             = var.region
  cidr_block         = var.vpc_cidr
  cluster_name       = local.name
  single_nat_gateway = !var.production
}

module "eks" {
  source                = "../eks"
  name                  = local.name
  private_subnet_ids    = module.vpc.private_subnet_ids
  public_endpoint_cidrs = var.eks_public_endpoint_cidrs
  cpu_instance_types    = var.cpu_instance_types
  cpu_min_size          = var.cpu_min_size
  cpu_max_size          = var.cpu_max_size
  gpu_instance_types    = var.gpu_instance_types
  gpu_capacity_type     = var.production ? "ON_DEMAND" : "SPOT"
  gpu_min_size          = var.gpu_min_size
  gpu_max_size          = var.gpu_max_size
}

module "cognito" {
  source              = "../cognito"
  name                = local.name
  deletion_protection = var.production
}

module "dynamodb" {
  source              = "../dynamodb"
  name                = local.name
  deletion_protection = var.production
}

module "redis" {
  source                   = "../redis"
  name                     = local.name
  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnet_ids
  client_security_group_id = module.eks.cluster_security_group_id
  node_type                = var.redis_node_type
  replicas                 = var.production ? 2 : 0
}

module "sqs" {
  source                     = "../sqs"
  name                       = local.name
  models                     = var.models
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  max_deliveries             = var.queue_max_deliveries
}

module "s3" {
  source        = "../s3"
  name          = local.name
  force_destroy = !var.production
}

module "secrets" {
  source                  = "../secrets"
  name                    = local.name
  redis_url               = module.redis.url
  redis_auth_token        = module.redis.auth_token
  recovery_window_in_days = var.production ? 30 : 0
}

module "waf" {
  source               = "../waf"
  name                 = local.name
  origin_verify_secret = module.secrets.origin_verify_secret
}

module "cloudfront" {
  source               = "../cloudfront"
  name                 = local.name
  aliases              = [var.public_host]
  certificate_arn      = var.cloudfront_certificate_arn
  origin_domain_name   = var.origin_domain_name
  origin_verify_secret = module.secrets.origin_verify_secret
}

module "irsa" {
  source              = "../iam-irsa"
  name                = local.name
  oidc_provider_arn   = module.eks.oidc_provider_arn
  oidc_issuer         = module.eks.oidc_issuer
  dynamodb_table_arns = module.dynamodb.table_arns
  queue_arns          = module.sqs.queue_arns
  user_pool_arn       = module.cognito.user_pool_arn
  files_bucket_arn    = module.s3.files_bucket_arn
  models_bucket_arn   = module.s3.models_bucket_arn
}
