variable "region" {
  type    = string
  default = "us-east-1"
}

variable "origin_domain_name" {
  type        = string
  description = "DNS name pointing at the ALB of the Ingress (see terraform/README.md, step 4)."
}

variable "cloudfront_certificate_arn" {
  type        = string
  description = "ACM certificate in us-east-1 for the public host."
}
