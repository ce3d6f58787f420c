variable "environment" {
  type        = string
  description = "dev, staging or prod: names every resource gptql-ENVIRONMENT-*."
}

variable "production" {
  type        = bool
  description = "On-demand GPU nodes, NAT and Redis per zone, deletion protection."
}

variable "region" {
  type = string
}

variable "vpc_cidr" {
  type    = string
  default = "10.0.0.0/16"
}

variable "eks_public_endpoint_cidrs" {
  type    = list(string)
  default = []
}

variable "public_host" {
  type        = string
  description = "Host of PUBLIC_URL and of the Ingress rule."
}

variable "origin_domain_name" {
  type        = string
  description = "DNS name of the ALB for CloudFront (create it after the Ingress, see terraform/README.md)."
}

variable "cloudfront_certificate_arn" {
  type = string
}

variable "cpu_instance_types" {
  type    = list(string)
  default = ["m7i.xlarge"]
}

variable "cpu_min_size" {
  type    = number
  default = 2
}

variable "cpu_max_size" {
  type    = number
  default = 10
}

variable "gpu_instance_types" {
  type    = list(string)
  default = ["g5.xlarge"]
}

variable "gpu_min_size" {
  type    = number
  default = 1
}

variable "gpu_max_size" {
  type    = number
  default = 4
}

variable "redis_node_type" {
  type    = string
  default = "cache.t4g.small"
}

variable "queue_visibility_timeout_seconds" {
  type    = number
  default = 60
}

variable "queue_max_deliveries" {
  type    = number
  default = 5
}

variable "models" {
  type        = list(string)
  description = "The model names workers serve (MODEL_PATH's, \"default\" when it is unset): one SQS jobs queue each."
  default     = ["default"]
}
