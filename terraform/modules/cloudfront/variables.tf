variable "name" {
  type = string
}

variable "aliases" {
  type        = list(string)
  description = "Public host names (the host of PUBLIC_URL)."
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate in us-east-1 for the aliases (CloudFront only reads certificates there)."
}

variable "origin_domain_name" {
  type        = string
  description = "DNS name that points at the ALB the Ingress created (for example origin.gptql.example.com)."
}

variable "origin_verify_secret" {
  type      = string
  sensitive = true
}
