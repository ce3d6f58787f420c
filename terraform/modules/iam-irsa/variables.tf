variable "name" {
  type = string
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of the service accounts (k8s/base: gptql)."
  default     = "gptql"
}

variable "oidc_provider_arn" {
  type = string
}

variable "oidc_issuer" {
  type = string
}

variable "dynamodb_table_arns" {
  type = list(string)
}

variable "queue_arns" {
  type        = list(string)
  description = "The jobs queues: SQS_QUEUE_URL's and each model's."
}

variable "user_pool_arn" {
  type = string
}

variable "files_bucket_arn" {
  type = string
}

variable "models_bucket_arn" {
  type = string
}
