# gptql dev. Apply from this folder: terraform init && terraform apply (see terraform/README.md).

terraform {
  required_version = ">= 1.6"
  # One state per environment: same bucket and lock table, its own key.
  backend "s3" {
    bucket         = "gptql-terraform-state"
    key            = "gptql/dev/terraform.tfstate"
    region         = "us-east-1"
    dynamodb_table = "gptql-terraform-locks"
    encrypt        = true
  }
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = "gptql"
      Environment = "dev"
      ManagedBy   = "terraform"
    }
  }
}

module "gptql" {
  source                     = "../../modules/gptql"
  environment                = "dev"
  production                 = false
  region                     = var.region
  public_host                = "dev.gptql.example.com"
  origin_domain_name         = var.origin_domain_name
  cloudfront_certificate_arn = var.cloudfront_certificate_arn
  cpu_min_size               = 1
  cpu_max_size               = 3
  gpu_min_size               = 0
  gpu_max_size               = 2
}
